"""The browser UI: one page shell, its static modules, and the headers that guard them.

The page is a Jinja shell; small JavaScript modules fill it from the JSON
API and its Server-Sent Events stream.  Mail content never enters this
origin's documents as markup: the JS builds every node with ``textContent``,
and message HTML is only ever shown through the sandboxed ``/view`` route
inside an ``<iframe sandbox>`` without scripts (same-origin only so the UI can
measure it: see :mod:`mailsink.web.view`).

Every response of this blueprint carries a strict Content-Security-Policy
(no inline script, no third-party origin), a framing ban and
``Referrer-Policy: no-referrer``.  The blueprint itself changes nothing:
state changes go through the API with ``PUT``/``DELETE`` and JSON bodies,
which a cross-site page cannot send without a CORS preflight the server
never grants.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl

from flask import Blueprint, Response, render_template, request, url_for

from mailsink import __version__
from mailsink.mime import parse_message
from mailsink.web.assets import asset_version, send_asset
from mailsink.web.errors import ApiError
from mailsink.web.state import app_state

UI_CSP = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data: blob:",
        "connect-src 'self'",
        "frame-src 'self'",
        "form-action 'self'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
    ]
)

SECURITY_HEADERS = {
    "Content-Security-Policy": UI_CSP,
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
}

MAX_TREE_NODES = 1_000

bp = Blueprint(
    "ui",
    __name__,
    template_folder="templates",
    static_folder="static/ui",
    static_url_path="/ui/static",
)


@bp.after_request
def add_security_headers(response: Response) -> Response:
    """Send the UI's security headers on every page and asset of this blueprint."""
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    if response.mimetype == "text/html":
        response.headers["Cache-Control"] = "no-store"
    return response


def _smtp_address() -> tuple[str, int]:
    """Return the host and port an application should send to."""
    return app_state().smtp_connect_address


PREFS_COOKIE = "mailsink-prefs"
PREF_CHOICES = {"theme": ("auto", "light", "dark"), "density": ("comfortable", "compact")}
"""Each preference the page shell needs before its first paint, and its values (first: default)."""


def read_prefs(cookie: str | None) -> dict[str, str]:
    """Return the theme and density kept in the prefs cookie (``theme=dark&density=compact``).

    The shell writes them onto ``<html>`` so the first paint already has the
    chosen theme (no flash of the other one, and no inline script, which the
    CSP forbids).  Only the known values are taken: anything else is the default.
    """
    try:
        given = dict(parse_qsl(cookie or "", max_num_fields=8)) if len(cookie or "") < 200 else {}
    except ValueError:  # more fields than any version of the page writes
        given = {}
    return {
        name: given[name] if given.get(name) in choices else choices[0]
        for name, choices in PREF_CHOICES.items()
    }


def _static_folder() -> str:
    assert bp.static_folder is not None  # set in the Blueprint() call above
    return bp.static_folder


def asset_url(filename: str) -> str:
    """Return the versioned, cacheable URL of a static file (see :mod:`mailsink.web.assets`)."""
    return url_for("ui.asset", version=asset_version(_static_folder()), filename=filename)


@bp.get("/ui/assets/<version>/<path:filename>")
def asset(version: str, filename: str) -> Response:
    """Serve a static file under its version, cached for good when the version is current."""
    return send_asset(_static_folder(), version, filename)


PAGE_SIZE = 50
"""Rows per page: app.js's LIMIT, which the first list request's URL must repeat exactly."""

SIMPLE_ID = re.compile(r"[A-Za-z0-9_-]{1,200}")
ASCII_START = re.compile(r"[0-9]{1,9}")
"""A ``start`` that app.js's ``parseInt`` reads as the same number.

``str.isdigit`` also takes "²", which ``int`` refuses, and Arabic-Indic
digits, which ``int`` reads and ``parseInt`` does not.
"""


def first_requests(message_id: str | None) -> list[str]:
    """Return the API paths the page's scripts will request first, for ``<link rel=preload>``.

    The shell names them so the browser starts them beside the stylesheet and
    modules instead of after every module has run (at 100,000 messages the
    list's answer was what the first paint waited for).  Each path is written
    exactly as app.js will fetch it, or the browser fetches it twice; where
    that cannot be sure (a search, whose URL carries the browser's time zone,
    an odd ``start``, an ID with characters to escape) nothing is preloaded.
    """
    paths = []
    start = request.args.get("start", "0")
    if not request.args.get("q", "").strip() and ASCII_START.fullmatch(start):
        paths.append(f"/api/v1/messages?start={int(start)}&limit={PAGE_SIZE}")
    if message_id is not None and SIMPLE_ID.fullmatch(message_id):
        paths.append(f"/api/v1/message/{message_id}")
    return paths


def _shell(message_id: str | None = None) -> str:
    """Render the page shell; the JS modules route between list and message."""
    host, port = _smtp_address()
    label = app_state().settings.label
    return render_template(
        "ui/index.html",
        asset_url=asset_url,
        preload=first_requests(message_id),
        prefs=read_prefs(request.cookies.get(PREFS_COOKIE)),
        smtp_host=host,
        smtp_port=port,
        version=__version__,
        label=label,
        title=f"{label} · mailsink" if label else "mailsink",
    )


@bp.get("/")
def index() -> str:
    """Serve the message list."""
    return _shell()


@bp.get("/message/<message_id>")
def message_page(message_id: str) -> str:
    """Serve the shell for a message URL, so a reload or a shared link opens it."""
    return _shell(message_id)


MAX_TREE_DEPTH = 100
"""Deepest level of the part tree sent: JSON encoding recurses, and 490 levels overflowed it."""


def _tree_json(node: Any, budget: list[int]) -> dict[str, Any]:
    """Turn a MIME TreeNode into JSON, iteratively bounded by a node budget and MAX_TREE_DEPTH."""
    root: dict[str, Any] = {}
    stack = [(node, root, 0)]
    while stack:
        current, out, depth = stack.pop()
        budget[0] -= 1
        out.update(
            PartID=current.part_id,
            ContentType=current.content_type,
            FileName=current.filename,
            Size=current.size,
            Children=[],
        )
        if depth >= MAX_TREE_DEPTH and current.children:
            out["Truncated"] = True  # the parts below are still listed in the message JSON
            continue
        for child in current.children:
            if budget[0] <= 0:
                break
            child_out: dict[str, Any] = {}
            out["Children"].append(child_out)
            stack.append((child, child_out, depth + 1))
    return root


@bp.get("/ui/message/<message_id>/tree")
def message_tree(message_id: str) -> Any:
    """Return the MIME part tree of a message, which the Mailpit API does not offer."""
    store = app_state().mailbox.store
    if message_id == "latest":
        page = store.list(0, 1)
        message_id = page.items[0].id if page.items else ""
    raw = store.raw(message_id) if message_id else None
    if raw is None:
        raise ApiError("message not found", 404)
    parsed = parse_message(raw)
    return {
        "ID": message_id,
        "Tree": _tree_json(parsed.tree, [MAX_TREE_NODES]),
        "Defects": parsed.defects,
    }
