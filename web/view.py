"""The message bodies as documents: ``/view/{ID}.html`` and ``/view/{ID}.txt``.

Message HTML is untrusted.  It is served with a Content-Security-Policy
``sandbox`` (an opaque origin, no script) that lets only inline styles and
images from ``data:``, ``cid:`` and this server load; remote images, styles
and fonts are blocked unless ``?remote=1``.  ``cid:`` references are
rewritten to the part URLs of the same message.  Viewing does not mark a
message read.
"""

from __future__ import annotations

import re
from urllib.parse import unquote

from flask import Blueprint, Response, request

from mailsink.mime import ParsedMessage, html_to_text, parse_message
from mailsink.web.errors import ApiError
from mailsink.web.params import bool_arg, get_message, mailbox

bp = Blueprint("api_view", __name__)

_CID_RE = re.compile(r"cid:([^\"'\s)>]+)", re.IGNORECASE)


def view_csp(origin: str, remote: bool) -> str:
    """Return the policy for a message body; remote content only when asked for."""
    extra = " http: https:" if remote else ""
    return "; ".join(
        [
            "sandbox allow-popups allow-popups-to-escape-sandbox",
            "default-src 'none'",
            f"img-src data: cid: 'self' {origin}{extra}",
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


@bp.get("/view/<message_id>.html")
def view_html(message_id: str) -> Response:
    """Return the sandboxed HTML body (``?remote=1``: remote content, ``?embed=1``: new tabs)."""
    resolved, parsed = _parsed(message_id)
    if not parsed.html:
        raise ApiError(f"message {resolved} has no HTML body", 404)
    html = rewrite_cids(parsed.html, parsed, resolved, request.script_root)
    if bool_arg("embed"):
        html = '<base target="_blank">' + html
    response = Response(html, mimetype="text/html")
    origin = request.host_url.rstrip("/")
    response.headers["Content-Security-Policy"] = view_csp(origin, bool_arg("remote"))
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


@bp.get("/view/<message_id>.txt")
def view_text(message_id: str) -> Response:
    """Return the text body (the HTML body's text when there is no text part)."""
    _resolved, parsed = _parsed(message_id)
    text = parsed.text or html_to_text(parsed.html)
    response = Response(text, mimetype="text/plain")
    response.headers["Content-Security-Policy"] = "sandbox; default-src 'none'"
    return response
