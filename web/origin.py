"""Cross-site requests to the API are refused: any web page could otherwise make a visitor's browser
read (and mark read) mail, or ask for a response large enough to exhaust memory, with an ``<img>``.

CORS already stops a cross-site page from *reading* a response, but not from
*sending* the request: a plain ``<img src=".../api/v2/messages?limit=1000">``
made the sink build a 1.2 GB response, and a GET of a message marks it read.
So the request itself is refused (403) when a browser says it is cross-site:

* ``Sec-Fetch-Site: cross-site`` or ``same-site`` (every current browser
  sends it; ``same-site`` is another port or subdomain of the same site,
  still another origin);
* without that header (older browsers), an ``Origin`` whose host and port
  are not the request's own ``Host``.

Requests without either header (curl, test clients, Mailpit client
libraries) are not from a web page and pass, as do requests from an origin
allowed with ``--cors-origin``.  One exception: the images of a message part
(``/api/v1/message/ID/part/N``) load cross-site by design, because the
sandboxed HTML view (an opaque origin) shows a message's inline images from
there; a part is one bounded download and marks nothing.

The same holds inside this origin: the sandboxed HTML view keeps the UI's
origin (so the UI can size its frame) and, with remote content allowed, may
load any URL as an image or a style.  So a request whose ``Sec-Fetch-Dest``
says it loads the API as a subresource (an image, style, font, frame,
script, media...) is refused whatever its site (:func:`is_subresource_load`):
the UI reads the API only with ``fetch`` (``empty``), ``EventSource`` and
links to downloads (``document``).
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from flask import Request

GUARDED_PREFIXES = ("/api/",)
"""Paths refused to cross-site requests: the JSON API and its event stream."""

_PART_PATH = re.compile(r"/api/v1/message/[^/]+/part/[^/]+(/thumb)?")


def _origin_allowed(origin: str | None, cors_origins: tuple[str, ...]) -> bool:
    """Tell whether ``--cors-origin`` lets this origin call the API."""
    return "*" in cors_origins or (origin is not None and origin in cors_origins)


def _same_host(origin: str, host: str) -> bool:
    """Tell whether an Origin names the host (and port) the request was sent to."""
    try:
        parts = urlsplit(origin)
    except ValueError:
        return False
    return bool(parts.netloc) and parts.netloc.lower() == host.strip().lower()


API_DESTINATIONS = frozenset({"", "empty", "document", "websocket"})
"""``Sec-Fetch-Dest`` values the API answers: fetch/XHR/EventSource, navigations, WebSocket."""


def is_subresource_load(request: Request) -> bool:
    """Tell whether to refuse this API request as an image/style/frame load (module docstring)."""
    if not request.path.startswith(GUARDED_PREFIXES):
        return False
    if request.method == "GET" and _PART_PATH.fullmatch(request.path):
        return False
    return request.headers.get("Sec-Fetch-Dest", "").strip().lower() not in API_DESTINATIONS


def is_cross_site(request: Request, cors_origins: tuple[str, ...]) -> bool:
    """Tell whether to refuse this request as coming from another site's page (module docstring)."""
    if not request.path.startswith(GUARDED_PREFIXES):
        return False
    if request.method == "GET" and _PART_PATH.fullmatch(request.path):
        return False
    origin = request.headers.get("Origin")
    if _origin_allowed(origin, cors_origins):
        return False
    fetch_site = request.headers.get("Sec-Fetch-Site", "").strip().lower()
    if fetch_site:
        return fetch_site in ("cross-site", "same-site")
    if origin is None:
        return False
    return not _same_host(origin, request.headers.get("Host", ""))
