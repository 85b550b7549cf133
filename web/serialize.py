"""Turn stored and parsed messages into Mailpit's JSON shapes (plus our Envelope).

Mailpit clients read PascalCase fields: ``MessageSummary`` in lists and
searches, ``Message`` for one message, ``Attachment`` for its parts.  Times
are RFC 3339 in UTC with milliseconds.  The envelope (MAIL FROM, RCPT TO,
HELO, peer, TLS, AUTH user) is added as ``Envelope`` on both shapes.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timezone
from email.parser import BytesHeaderParser
from email.policy import compat32
from typing import Any

from mailsink.checks.unsubscribe import parse_list_unsubscribe
from mailsink.headers import split_head_body
from mailsink.message import Address, Envelope
from mailsink.mime import ParsedMessage, Part
from mailsink.store.base import Page, StoredMessage

_header_parser = BytesHeaderParser(policy=compat32)


def rfc3339(stamp: float | None) -> str | None:
    """Return a unix time as RFC 3339 UTC with milliseconds, e.g. 2024-01-31T10:00:00.123Z."""
    if stamp is None:
        return None
    try:
        moment = datetime.fromtimestamp(stamp, tz=timezone.utc)
    except (OverflowError, OSError, ValueError):
        return None
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def address_json(address: Address | None) -> dict[str, str] | None:
    """Return an address as ``{"Name", "Address"}``, None for no address."""
    if address is None:
        return None
    return {"Name": address.name, "Address": address.address}


def addresses_json(addresses: tuple[Address, ...]) -> list[dict[str, str]]:
    """Return a list of addresses in Mailpit's shape."""
    return [{"Name": a.name, "Address": a.address} for a in addresses]


def envelope_json(envelope: Envelope) -> dict[str, Any]:
    """Return the SMTP envelope (our addition to Mailpit's shapes)."""
    return {
        "MailFrom": envelope.mail_from,
        "RcptTo": list(envelope.rcpt_tos),
        "Helo": envelope.helo,
        "Peer": envelope.peer,
        "TLS": envelope.tls,
        "AuthUser": envelope.auth_user,
    }


def summary_json(message: StoredMessage) -> dict[str, Any]:
    """Return Mailpit's MessageSummary of a stored message, plus Envelope and Inline."""
    s = message.summary
    return {
        "ID": message.id,
        "MessageID": s.message_id,
        "Read": message.read,
        "From": address_json(s.from_),
        "To": addresses_json(s.to),
        "Cc": addresses_json(s.cc),
        "Bcc": addresses_json(s.bcc),
        "ReplyTo": addresses_json(s.reply_to),
        "Subject": s.subject,
        "Created": rfc3339(message.received),
        "Username": message.envelope.auth_user or "",
        "Tags": list(message.tags),
        "Size": s.size,
        "Attachments": s.attachments,
        "Inline": s.inline,
        "Snippet": s.snippet,
        "Envelope": envelope_json(message.envelope),
    }


def page_json(page: Page, tags: list[str], matched_unread: int) -> dict[str, Any]:
    """Return Mailpit's MessagesSummary for a page of a list or a search."""
    return {
        "total": page.total,
        "unread": page.unread,
        "count": len(page.items),
        "messages_count": page.matched,
        "messages_unread": matched_unread,
        "start": page.start,
        "tags": tags,
        "messages": [summary_json(m) for m in page.items],
    }


def attachment_json(part: Part) -> dict[str, Any]:
    """Return Mailpit's Attachment shape for a part, with checksums of its bytes."""
    return {
        "PartID": part.part_id,
        "FileName": part.filename,
        "ContentType": part.content_type,
        "ContentID": part.content_id,
        "Size": part.size,
        "Checksums": {
            "MD5": hashlib.md5(part.payload, usedforsecurity=False).hexdigest(),
            "SHA1": hashlib.sha1(part.payload, usedforsecurity=False).hexdigest(),
            "SHA256": hashlib.sha256(part.payload).hexdigest(),
        },
    }


def _list_unsubscribe(parsed: ParsedMessage) -> dict[str, Any]:
    """Return Mailpit's ListUnsubscribe object from the message headers."""
    header = parsed.header("List-Unsubscribe")
    post = parsed.header("List-Unsubscribe-Post")
    links, errors = parse_list_unsubscribe(header, post) if header or post else ([], "")
    return {"Header": header, "Links": links, "Errors": errors, "HeaderPost": post}


def message_json(message: StoredMessage, parsed: ParsedMessage) -> dict[str, Any]:
    """Return Mailpit's Message shape (bodies, parts, addresses) plus Envelope, Read, Created."""
    s = message.summary
    return {
        "ID": message.id,
        "MessageID": s.message_id,
        "From": address_json(s.from_),
        "To": addresses_json(s.to),
        "Cc": addresses_json(s.cc),
        "Bcc": addresses_json(s.bcc),
        "ReplyTo": addresses_json(s.reply_to),
        "ReturnPath": s.return_path,
        "Subject": s.subject,
        "ListUnsubscribe": _list_unsubscribe(parsed),
        "Date": rfc3339(s.date if s.date is not None else message.received),
        "Created": rfc3339(message.received),
        "Tags": list(message.tags),
        "Username": message.envelope.auth_user or "",
        "Text": parsed.text,
        "HTML": parsed.html,
        "Size": s.size,
        "Inline": [attachment_json(p) for p in parsed.inline],
        "Attachments": [attachment_json(p) for p in parsed.attachments],
        "Read": message.read,
        "Envelope": envelope_json(message.envelope),
    }


def canonical_header_name(name: str) -> str:
    """Return a header name as Go's textproto canonicalises it (``Message-Id``), as Mailpit does."""
    return "-".join(word[:1].upper() + word[1:].lower() for word in name.split("-"))


def raw_headers(raw: bytes) -> dict[str, list[str]]:
    """Return every header as ``{Canonical-Name: [raw values]}``, names sorted (Mailpit's shape)."""
    head, _body = split_head_body(raw)
    try:
        msg = _header_parser.parsebytes(head + b"\r\n\r\n")
    except Exception:  # noqa: BLE001 - hostile input must never raise
        return {}
    headers: dict[str, list[str]] = {}
    for name, value in msg.items():
        text = str(value).replace("\r\n", "").replace("\n", "")
        text = text.encode("utf-8", "replace").decode("utf-8", "replace")
        headers.setdefault(canonical_header_name(str(name)), []).append(text.strip())
    return dict(sorted(headers.items()))
