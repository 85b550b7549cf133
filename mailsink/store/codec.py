"""Turn envelopes and summaries into JSON-able dicts and text, and back.

The SQLite store keeps them as JSON columns; the memory store packs each
message's metadata into one compact JSON bytes object (Python objects per
field would cost more memory than a small message itself).
"""

from __future__ import annotations

import json
from typing import Any

from mailsink.message import Address, Envelope, Summary

_ADDRESS_FIELDS = ("to", "cc", "reply_to", "bcc")


def _pair(address: Address) -> list[str]:
    return [address.name, address.address]


def summary_to_json(summary: Summary) -> str:
    """Return the summary as compact JSON (the search text is left out)."""
    return _dumps(summary_to_dict(summary))


def _dumps(data: object) -> str:
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False)


def summary_to_dict(summary: Summary) -> dict[str, Any]:
    """Return the summary as a JSON-able dict (the search text is left out)."""
    data: dict[str, Any] = {
        "message_id": summary.message_id,
        "subject": summary.subject,
        "from": _pair(summary.from_) if summary.from_ else None,
        "return_path": summary.return_path,
        "date": summary.date,
        "size": summary.size,
        "snippet": summary.snippet,
        "attachments": summary.attachments,
        "inline": summary.inline,
        "tags": list(summary.tags),
        "long_lines": summary.long_lines,
    }
    for name in _ADDRESS_FIELDS:
        data[name] = [_pair(a) for a in getattr(summary, name)]
    return data


def summary_from_json(text: str) -> Summary:
    """Rebuild a summary from :func:`summary_to_json` output."""
    return summary_from_dict(json.loads(text))


def summary_from_dict(data: dict[str, Any], text: str = "") -> Summary:
    """Rebuild a summary from :func:`summary_to_dict` output."""
    sender = data.get("from")
    lists = {name: tuple(Address(n, a) for n, a in data.get(name, [])) for name in _ADDRESS_FIELDS}
    return Summary(
        message_id=data["message_id"],
        subject=data["subject"],
        from_=Address(*sender) if sender else None,
        return_path=data.get("return_path", ""),
        date=data.get("date"),
        size=data["size"],
        snippet=data.get("snippet", ""),
        attachments=data.get("attachments", 0),
        inline=data.get("inline", 0),
        tags=tuple(data.get("tags", [])),
        long_lines=data.get("long_lines", False),
        text=text,
        **lists,
    )


def envelope_to_json(envelope: Envelope) -> str:
    """Return the envelope as compact JSON."""
    return _dumps(envelope_to_dict(envelope))


def envelope_to_dict(envelope: Envelope) -> dict[str, Any]:
    """Return the envelope as a JSON-able dict."""
    return {
        "mail_from": envelope.mail_from,
        "rcpt_tos": list(envelope.rcpt_tos),
        "helo": envelope.helo,
        "peer": envelope.peer,
        "tls": envelope.tls,
        "auth_user": envelope.auth_user,
    }


def envelope_from_json(text: str) -> Envelope:
    """Rebuild an envelope from :func:`envelope_to_json` output."""
    return envelope_from_dict(json.loads(text))


def envelope_from_dict(data: dict[str, Any]) -> Envelope:
    """Rebuild an envelope from :func:`envelope_to_dict` output."""
    return Envelope(
        mail_from=data["mail_from"],
        rcpt_tos=tuple(data["rcpt_tos"]),
        helo=data.get("helo", ""),
        peer=data.get("peer", ""),
        tls=bool(data.get("tls")),
        auth_user=data.get("auth_user"),
    )
