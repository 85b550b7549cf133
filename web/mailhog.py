"""MailHog compatibility for its still widely used clients (npm ``mailhog``, ``cypress-mailhog``).

``GET /api/v2/messages`` and ``GET /api/v2/search?kind=from|to|containing``
answer ``{total, count, start, items}`` with MailHog's message shape
(``Content.Headers``, ``Content.Body``, ``MIME.Parts``, ``Raw``, envelope
``From``/``To`` as Mailbox/Domain).  ``DELETE /api/v1/messages/{id}`` deletes
one message; ``DELETE /api/v1/messages`` (all) is served by the Mailpit API.

Each item carries its whole message several times over (raw, body, MIME
parts), so a page of 1,000 large messages once grew the process by 1.2 GB.
A page stops at :data:`MAX_PAGE_BYTES` of raw message bytes (always at least
one message); ``count`` says how many it holds, and MailHog's clients page
on with ``start``.
"""

from __future__ import annotations

from email.message import Message as Compat32Message
from email.parser import BytesParser
from email.policy import compat32
from typing import Any

from flask import Blueprint, Response, request

from mailsink.headers import split_head_body
from mailsink.mime import MAX_PARTS
from mailsink.search import Query, Term
from mailsink.store.base import MAX_PAGE, StoredMessage
from mailsink.web.errors import ApiError
from mailsink.web.params import int_arg, mailbox
from mailsink.web.serialize import rfc3339

bp = Blueprint("api_mailhog", __name__)

MAX_DEPTH = 50
MAX_PAGE_BYTES = 16 * 1024 * 1024
"""Most raw message bytes behind one page of ``/api/v2`` items (module docstring)."""
_parser = BytesParser(policy=compat32)


def _path(address: str) -> dict[str, Any]:
    """Return an envelope address as MailHog's Path (Mailbox, Domain)."""
    mailbox_part, _, domain = address.rpartition("@")
    if not mailbox_part:
        mailbox_part, domain = domain, ""
    return {"Relays": None, "Mailbox": mailbox_part, "Domain": domain, "Params": ""}


def _text(data: bytes | str) -> str:
    """Return bytes as text the way MailHog shows them (invalid UTF-8 replaced)."""
    if isinstance(data, str):
        return data.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return data.decode("utf-8", "replace")


def _headers(part: Compat32Message) -> dict[str, list[str]]:
    """Return a part's headers as ``{Name: [raw values]}``, names as sent."""
    headers: dict[str, list[str]] = {}
    for name, value in part.items():
        text = _text(str(value)).replace("\r\n", "").replace("\n", "").strip()
        headers.setdefault(str(name), []).append(text)
    return headers


def _body(part: Compat32Message) -> str:
    """Return a part's body still transfer-encoded, as MailHog keeps it."""
    payload = part.get_payload()
    if isinstance(payload, str):
        return _text(payload)
    try:
        whole = part.as_string()
    except Exception:  # noqa: BLE001 - hostile input must never raise
        return ""
    return whole.partition("\n\n")[2]


def _mime(part: Compat32Message, budget: list[int], depth: int = 0) -> dict[str, Any] | None:
    """Return ``{"Parts": [...]}`` for a multipart part (nested as MailHog does), else None."""
    payload = part.get_payload()
    if not part.is_multipart() or not isinstance(payload, list) or depth > MAX_DEPTH:
        return None
    parts = []
    for child in payload:
        if not isinstance(child, Compat32Message):
            continue
        if budget[0] <= 0:
            break
        budget[0] -= 1
        body = _body(child)
        parts.append(
            {
                "Headers": _headers(child),
                "Body": body,
                "Size": len(body),
                "MIME": _mime(child, budget, depth + 1),
            }
        )
    return {"Parts": parts}


def mailhog_json(message: StoredMessage, raw: bytes) -> dict[str, Any]:
    """Return MailHog's message JSON for a stored message and its raw bytes."""
    try:
        parsed: Compat32Message | None = _parser.parsebytes(raw)
    except Exception:  # noqa: BLE001
        parsed = None
    _head, body = split_head_body(raw)
    envelope = message.envelope
    return {
        "ID": message.id,
        "From": _path(envelope.mail_from),
        "To": [_path(rcpt) for rcpt in envelope.rcpt_tos],
        "Content": {
            "Headers": _headers(parsed) if parsed is not None else {},
            "Body": _text(body),
            "Size": len(raw),
            "MIME": None,
        },
        "Created": rfc3339(message.received),
        "MIME": _mime(parsed, [MAX_PARTS]) if parsed is not None else None,
        "Raw": {
            "From": envelope.mail_from,
            "To": list(envelope.rcpt_tos),
            "Data": _text(raw),
            "Helo": envelope.helo,
        },
    }


def _items(messages: list[StoredMessage]) -> list[dict[str, Any]]:
    """Return MailHog JSON for messages, skipping any deleted meanwhile, up to MAX_PAGE_BYTES."""
    store = mailbox().store
    items: list[dict[str, Any]] = []
    budget = MAX_PAGE_BYTES
    for message in messages:
        if items and message.summary.size > budget:
            break
        raw = store.raw(message.id)
        if raw is not None:
            items.append(mailhog_json(message, raw))
            budget -= len(raw)
    return items


def _page() -> tuple[int, int]:
    """Return MailHog's (start, limit), limit capped."""
    return int_arg("start", 0, maximum=2**62), int_arg("limit", 50, maximum=MAX_PAGE)


@bp.get("/api/v2/messages")
def messages() -> Any:
    """List messages newest first in MailHog's shape."""
    start, limit = _page()
    page = mailbox().store.list(start, limit)
    items = _items(page.items)
    return {"total": page.total, "count": len(items), "start": start, "items": items}


def _search_ids(kind: str, text: str) -> list[str]:
    """Return the IDs matching a MailHog search, newest first."""
    store = mailbox().store
    value = text.strip().lower()
    if kind == "containing":
        return store.ids(Query((Term("text", value),)))
    if kind == "from":
        return store.ids(Query((Term("from", value),)))
    # MailHog's "to" looks at every recipient: To and Cc headers, and the envelope (Bcc).
    found: set[str] = set()
    for field in ("to", "cc", "bcc"):
        found.update(store.ids(Query((Term(field, value),))))
    return [message_id for message_id in store.ids() if message_id in found]  # newest first


@bp.get("/api/v2/search")
def search() -> Any:
    """Search by ``kind`` (from, to, containing) and ``query`` in MailHog's shape."""
    kind = request.args.get("kind", "")
    if kind not in ("from", "to", "containing"):
        raise ApiError("kind must be from, to or containing")
    text = request.args.get("query", "")
    if not text.strip():
        raise ApiError("query is required")
    if len(text) > 1000:
        raise ApiError("query is too long (at most 1000 characters)")
    start, limit = _page()
    ids = _search_ids(kind, text)
    store = mailbox().store
    found = [m for m in (store.get(i) for i in ids[start : start + limit]) if m is not None]
    items = _items(found)
    return {"total": len(ids), "count": len(items), "start": start, "items": items}


@bp.delete("/api/v1/messages/<message_id>")
def delete_one(message_id: str) -> Response:
    """Delete one message (MailHog's v1 path); 404 when there is no such message."""
    if not mailbox().delete([message_id]):
        raise ApiError(f"message {message_id[:100]!r} not found", 404)
    return Response("", mimetype="text/plain")
