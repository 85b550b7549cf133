"""The message as documents: ``/view/{ID}.html``, ``/view/{ID}.txt`` and ``/view/{ID}.eml``.

Message HTML is untrusted.  It is served with a Content-Security-Policy
``sandbox`` without ``allow-scripts`` and with ``script-src 'none'``, so no
script in it ever runs, whether the UI frames it or someone opens the URL.
The sandbox keeps the document in this origin (``allow-same-origin``) only
so the UI can read its height and size the frame to it (the page scrolls,
not the frame); that is safe because the document cannot run script, and
what it may load is narrowed instead: inline styles, and images from
``data:`` and this message's own part URLs.  Remote images, styles and fonts
are blocked unless ``?remote=1``, and a subresource load of the API (an
``<img>`` of a message's JSON) is refused by :mod:`mailsink.web.origin`.
``cid:`` references are rewritten to the part URLs of the same message.

``?dl=1`` (and ``.eml``) answer with ``Content-Disposition: attachment``
and the very bytes the JSON API gives: the HTML and Text fields unchanged,
the raw message as received.  Viewing does not mark a message read.
"""

from __future__ import annotations

import re
from urllib.parse import quote, unquote

from flask import Blueprint, Response, request

from mailsink.mime import ParsedMessage, html_to_text, parse_message
from mailsink.web.errors import ApiError
from mailsink.web.params import bool_arg, get_message, mailbox

bp = Blueprint("api_view", __name__)

_CID_RE = re.compile(r"cid:([^\"'\s)>]+)", re.IGNORECASE)
_UNSAFE_NAME_RE = re.compile(r"[^A-Za-z0-9._-]")


DOWNLOAD_CSP = "sandbox; default-src 'none'"
"""The policy of a download: should a browser render it anyway, it runs and loads nothing."""


def view_csp(parts: str, remote: bool) -> str:
    """Return the policy for a message body whose images live under ``parts``; remote on request."""
    extra = " http: https:" if remote else ""
    return "; ".join(
        [
            # No allow-scripts: same-origin lets the UI measure the document, nothing more.
            "sandbox allow-same-origin allow-popups allow-popups-to-escape-sandbox",
            "default-src 'none'",
            "script-src 'none'",
            "object-src 'none'",
            f"img-src data: cid: {parts}{extra}",
            f"style-src 'unsafe-inline'{extra}",
            f"font-src data:{extra}",
            "base-uri 'none'",
            "form-action 'none'",
            "frame-ancestors 'self'",  # only the UI's own iframe shows it
        ]
    )


def rewrite_cids(html: str, parsed: ParsedMessage, message_id: str, root: str = "") -> str:
    """Point ``cid:`` references at this message's part URLs (under the webroot ``root``)."""
    by_cid = {p.content_id.lower(): p.part_id for p in parsed.parts.values() if p.content_id}
    if not by_cid:
        return html

    def replace(match: re.Match[str]) -> str:
        part_id = by_cid.get(unquote(match.group(1)).strip("<>").lower())
        if part_id is None:
            return match.group(0)
        return f"{root}/api/v1/message/{message_id}/part/{part_id}"

    return _CID_RE.sub(replace, html)


def _parsed(message_id: str) -> tuple[str, ParsedMessage]:
    """Return the resolved message ID and its parsed view."""
    message = get_message(message_id)
    raw = mailbox().store.raw(message.id)
    if raw is None:
        raise ApiError(f"message {message.id!r} not found", 404)
    return message.id, parse_message(raw)


def download(body: str | bytes, mimetype: str, filename: str) -> Response:
    """Return ``body`` as a file to save, never to render."""
    response = Response(body, mimetype=mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    response.headers["Content-Security-Policy"] = DOWNLOAD_CSP
    return response


def file_stem(message_id: str) -> str:
    """Return a message ID safe inside ``filename="..."`` whatever the store's IDs look like."""
    return _UNSAFE_NAME_RE.sub("_", message_id) or "message"


@bp.get("/view/<message_id>.html")
def view_html(message_id: str) -> Response:
    """Return the sandboxed HTML body (``?remote=1``: remote content, ``?embed=1``: new tabs).

    ``?dl=1`` downloads the HTML body as the API's ``HTML`` field has it.
    """
    resolved, parsed = _parsed(message_id)
    if not parsed.html:
        raise ApiError(f"message {resolved} has no HTML body", 404)
    if bool_arg("dl"):
        return download(parsed.html, "text/html", f"{file_stem(resolved)}.html")
    root = request.script_root
    html = rewrite_cids(parsed.html, parsed, resolved, root)
    if bool_arg("embed"):
        html = '<base target="_blank">' + html
    response = Response(html, mimetype="text/html")
    # A path in a CSP source matches that prefix: the images of this message and nothing else.
    parts = f"{request.url_root.rstrip('/')}/api/v1/message/{quote(resolved, safe='')}/part/"
    response.headers["Content-Security-Policy"] = view_csp(parts, bool_arg("remote"))
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


@bp.get("/view/<message_id>.txt")
def view_text(message_id: str) -> Response:
    """Return the text body (the HTML body's text when there is no text part).

    ``?dl=1`` downloads it.
    """
    resolved, parsed = _parsed(message_id)
    text = parsed.text or html_to_text(parsed.html)
    if bool_arg("dl"):
        return download(text, "text/plain", f"{file_stem(resolved)}.txt")
    response = Response(text, mimetype="text/plain")
    response.headers["Content-Security-Policy"] = DOWNLOAD_CSP
    return response


@bp.get("/view/<message_id>.eml")
def view_eml(message_id: str) -> Response:
    """Download the message exactly as it was received."""
    message = get_message(message_id)
    raw = mailbox().store.raw(message.id)
    if raw is None:
        raise ApiError(f"message {message.id!r} not found", 404)
    return download(raw, "message/rfc822", f"{file_stem(message.id)}.eml")
