"""One message over the API: its JSON, headers, raw source and parts.

``GET /api/v1/message/{ID}`` marks the message read, as Mailpit does; add
``?peek=1`` to read it without that (cypress-mailpit#33).  ``latest`` is the
newest message, or the newest matching ``?query=``.  Parts are served with a
``sandbox`` Content-Security-Policy and an RFC 6266 Content-Disposition, so an
HTML or SVG attachment can never run script in this origin and no filename
can break the header.  Parts of an active type (HTML, SVG, XML, JavaScript:
:data:`ACTIVE_TYPES`) are always downloads, never rendered, even inline; a
filename's bidi controls are neutralised (``mime.neutral_filename``).
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

from flask import Blueprint, Response

from mailsink.mime import neutral_filename, parse_message
from mailsink.web.errors import ApiError
from mailsink.web.params import bool_arg, get_message, mailbox
from mailsink.web.relay_api import relayed_json
from mailsink.web.serialize import message_json, raw_headers

bp = Blueprint("api_message", __name__)

PART_CSP = "sandbox; default-src 'none'; img-src data:; style-src 'unsafe-inline'"
_UNSAFE_FILENAME = re.compile(r"[^A-Za-z0-9 !#$&+,.=@^_`{}~()\[\]-]")
_TOKEN = r"[a-z0-9!#$&^_.+-]+"
_MIME_TYPE = re.compile(f"{_TOKEN}/{_TOKEN}")
_CHARSET = re.compile(r"[a-z0-9_.:-]+")
ACTIVE_TYPES = frozenset(
    {
        "text/html",
        "application/xhtml+xml",
        "image/svg+xml",
        "text/xml",
        "application/xml",
        "text/xsl",
        "text/javascript",
        "application/javascript",
        "application/ecmascript",
        "text/ecmascript",
        "application/x-javascript",
        "multipart/x-mixed-replace",
    }
)
"""Types a browser runs script in when it renders them: served as downloads."""


def is_active_type(mimetype: str) -> bool:
    """Tell whether a browser could run script from a part of this type (``+xml`` too)."""
    return mimetype in ACTIVE_TYPES or mimetype.endswith("+xml")


def content_disposition(kind: str, filename: str) -> str:
    """Return a Content-Disposition header that is safe for any filename (RFC 6266)."""
    name = neutral_filename(filename.replace("\\", "/").rsplit("/", 1)[-1].strip()[:200])
    name = name or "download"
    fallback = _UNSAFE_FILENAME.sub("_", name)
    value = f'{kind}; filename="{fallback}"'
    if fallback != name:
        value += f"; filename*=UTF-8''{quote(name, safe='')}"
    return value


def _raw(message_id: str) -> bytes:
    """Return the raw bytes of a message, 404 when it vanished meanwhile."""
    data = mailbox().store.raw(message_id)
    if data is None:
        raise ApiError(f"message {message_id!r} not found", 404)
    return data


@bp.get("/api/v1/message/<message_id>")
def get_message_json(message_id: str) -> Any:
    """Return Mailpit's Message JSON plus Envelope; mark it read unless ``?peek=1``."""
    message = get_message(message_id)
    parsed = parse_message(_raw(message.id))
    if not bool_arg("peek") and not message.read:
        mailbox().set_read([message.id], True)
        message.read = True
    body = message_json(message, parsed)
    body["Relayed"] = relayed_json(mailbox().store.relays(message.id))
    return body


@bp.get("/api/v1/message/<message_id>/headers")
def get_headers(message_id: str) -> Any:
    """Return the headers as ``{Name: [values]}`` with names sorted."""
    message = get_message(message_id)
    return raw_headers(_raw(message.id))


@bp.get("/api/v1/message/<message_id>/raw")
def get_raw(message_id: str) -> Response:
    """Return the exact bytes received; ``?dl=1`` downloads them as ``ID.eml``."""
    message = get_message(message_id)
    response = Response(_raw(message.id), mimetype="text/plain")
    response.headers["Content-Security-Policy"] = PART_CSP
    if bool_arg("dl"):
        response.headers["Content-Disposition"] = content_disposition(
            "attachment", f"{message.id}.eml"
        )
    return response


@bp.get("/api/v1/message/<message_id>/part/<part_id>")
def get_part(message_id: str, part_id: str) -> Response:
    """Return an attachment or inline part with its own content type; ``?dl=1`` downloads it."""
    message = get_message(message_id)
    parsed = parse_message(_raw(message.id))
    part = parsed.parts.get(part_id)
    if part is None:
        raise ApiError(f"part {part_id[:40]!r} not found in message {message.id}", 404)
    mimetype = part.content_type
    if not _MIME_TYPE.fullmatch(mimetype):
        mimetype = "application/octet-stream"
    if mimetype.startswith("text/") and _CHARSET.fullmatch(part.charset):
        mimetype += f"; charset={part.charset}"
    response = Response(part.payload, content_type=mimetype)
    kind = (
        "attachment"
        if bool_arg("dl") or part.disposition == "attachment" or is_active_type(mimetype)
        else "inline"
    )
    response.headers["Content-Disposition"] = content_disposition(
        kind, part.filename or f"part-{part.part_id}"
    )
    response.headers["Content-Security-Policy"] = PART_CSP
    return response
