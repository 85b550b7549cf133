"""The trail a relayed message carries: one ``Received:`` header prepended to the stored bytes.

Why ``Received:`` and not ``Resent-*``: RFC 5321 section 4.4 asks every server
that passes a message on to prepend a ``Received:`` trace field, and mailsink
is such a server, whether a person clicked Release or a rule matched.  The
``Resent-*`` fields of RFC 5322 section 3.6.6 are for a *user* reintroducing a
message and need a ``Resent-From`` and ``Resent-Date`` of their own; mail
clients show them as a forward, which a released test message is not.  A
prepended trace field also leaves every byte of the stored message as it was
(Date, Message-ID, DKIM signatures still verify), so what arrives upstream is
the captured message byte for byte, after one extra header line.
"""

from __future__ import annotations

from email.utils import formatdate

from mailsink.message import Envelope


def _clean(text: str) -> str:
    """Return text safe inside a header comment: printable ASCII, no parentheses."""
    return "".join(ch for ch in text if 32 < ord(ch) < 127 and ch not in "()\\")[:100]


def received_header(message_id: str, envelope: Envelope, hostname: str, origin: str) -> bytes:
    """Return the ``Received:`` line for relaying one message (CRLF-terminated)."""
    helo = _clean(envelope.helo) or "unknown"
    peer = _clean(envelope.peer)
    source = f"from {helo} ({peer})" if peer else f"from {helo}"
    line = (
        f"Received: {source}\r\n\tby {_clean(hostname) or 'mailsink'} (mailsink {origin})"
        f" id {_clean(message_id)}; {formatdate(localtime=True)}\r\n"
    )
    return line.encode("ascii")


def relayed_bytes(
    raw: bytes, message_id: str, envelope: Envelope, hostname: str, origin: str
) -> bytes:
    """Return what is sent upstream: the trace line, then the stored bytes unchanged."""
    return received_header(message_id, envelope, hostname, origin) + raw
