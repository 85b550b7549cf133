"""``--webroot /mail/``: serve the whole app under a path prefix, for a reverse proxy.

A WSGI middleware moves the prefix from ``PATH_INFO`` to ``SCRIPT_NAME``, the
way WSGI mounts an app, so Flask's routes stay as they are and every URL it
builds (``url_for``: static files, redirects) carries the prefix; the page
hands it to the JavaScript (``data-base``), which puts it before every API,
event-stream and page path.  ``/mail`` redirects to ``/mail/``; a path outside
the prefix is a JSON 404, except ``/livez`` and ``/readyz``, which answer at
the root too so that a healthcheck needs no knowledge of the prefix.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

ROOT_PATHS = ("/livez", "/readyz")


class WebRoot:
    """Mount a WSGI app under a prefix such as ``/mail``."""

    def __init__(self, app: WSGIApplication, prefix: str) -> None:
        self.app = app
        self.prefix = prefix.rstrip("/")

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "") or "/"
        prefix = self.prefix
        if path == prefix:
            query = environ.get("QUERY_STRING", "")
            location = f"{environ.get('SCRIPT_NAME', '')}{prefix}/" + (f"?{query}" if query else "")
            return _answer(start_response, "308 Permanent Redirect", {"Location": location})
        if path.startswith(prefix + "/"):
            environ["SCRIPT_NAME"] = environ.get("SCRIPT_NAME", "") + prefix
            environ["PATH_INFO"] = path[len(prefix) :]
            return self.app(environ, start_response)
        if path in ROOT_PATHS:
            return self.app(environ, start_response)
        return _answer(
            start_response,
            "404 Not Found",
            {"Content-Type": "application/json"},
            {"Error": f"not found; this sink is served under {prefix}/"},
        )


def _answer(
    start_response: StartResponse,
    status: str,
    headers: dict[str, str],
    body: dict[str, Any] | None = None,
) -> list[bytes]:
    data = json.dumps(body).encode() if body is not None else b""
    start_response(
        status,
        [
            *headers.items(),
            ("Content-Length", str(len(data))),
            ("X-Content-Type-Options", "nosniff"),
        ],
    )
    return [data]
