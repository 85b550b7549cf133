"""The message model: raw bytes plus envelope, and the views parsed from them.

The raw bytes received in DATA are the source of truth and are never altered.
Two views are derived from them with the standard library's ``email`` package:

* :func:`summarize` runs once at ingest and extracts what a list view and a
  search need (addresses, subject, dates, a snippet, the text body, counts).
* :func:`parse_message` runs when a message is opened and returns the full
  MIME tree with decoded bodies and parts.

Both tolerate any input: a message that cannot be parsed still yields a
summary (with what could be read) and never raises.  The full view lives in
``mime.py``, header decoding in ``headers.py``.
"""

from __future__ import annotations

import email.utils
import re
import secrets
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from email.message import Message as Compat32Message

from mailsink.headers import (
    MAX_HEADER_CHARS,
    clean_text,
    decode_header_value,
    raw_header_text,
    undo_surrogates,
)
from mailsink.mime import (
    MAX_TEXT_CHARS,
    classify,
    html_to_text,
    parse_bytes,
    part_text,
    walk_leaves,
)
from mailsink.outline import parse_outline

MAX_ADDRESSES = 1_000
"""Most addresses taken from one header."""

SNIPPET_CHARS = 250

_ID_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford base32, sorts by time


_last_id_value = 0
_id_lock = threading.Lock()


def new_id() -> str:
    """Return a new message ID: milliseconds in the high bits, random bits below.

    IDs are URL- and file-safe, and within one process they strictly increase,
    so sorting IDs sorts messages by arrival, also within one millisecond.
    """
    global _last_id_value  # noqa: PLW0603 - the one piece of state IDs need
    millis = int(time.time() * 1000)
    value = (millis << 60) | int.from_bytes(secrets.token_bytes(8), "big") >> 4
    with _id_lock:
        value = max(value, _last_id_value + 1)
        _last_id_value = value
    chars = []
    for _ in range(22):
        chars.append(_ID_ALPHABET[value & 31])
        value >>= 5
    return "".join(reversed(chars))


def observe_id(message_id: str) -> None:
    """Note an ID another process gave out, so that IDs given out here sort after it.

    A node of a shared store calls this for the messages other nodes store:
    its next IDs then sort after every message it has seen, however far its
    clock lags (a hybrid logical clock).  Malformed IDs are ignored.
    """
    global _last_id_value  # noqa: PLW0603 - the one piece of state IDs need
    if len(message_id) != 22:
        return
    value = 0
    for char in message_id:
        digit = _ID_ALPHABET.find(char)
        if digit < 0:
            return
        value = (value << 5) | digit
    with _id_lock:
        _last_id_value = max(_last_id_value, value)


@dataclass(frozen=True, slots=True)
class Address:
    """A mailbox: display name (may be empty) and address."""

    name: str
    address: str

    def __str__(self) -> str:
        if self.name:
            return f"{self.name} <{self.address}>"
        return self.address


@dataclass(frozen=True, slots=True)
class Envelope:
    """What the SMTP client said around the message, not inside it."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    helo: str = ""
    peer: str = ""
    tls: bool = False
    auth_user: str | None = None


@dataclass(frozen=True, slots=True)
class Summary:
    """The fields a list, a search and an API summary need, parsed at ingest."""

    message_id: str = ""
    subject: str = ""
    from_: Address | None = None
    to: tuple[Address, ...] = ()
    cc: tuple[Address, ...] = ()
    reply_to: tuple[Address, ...] = ()
    bcc: tuple[Address, ...] = ()
    return_path: str = ""
    date: float | None = None
    size: int = 0
    snippet: str = ""
    text: str = ""
    attachments: int = 0
    inline: int = 0
    tags: tuple[str, ...] = ()
    long_lines: bool = False


_ADDR = r"[^\s<>@,;:\"()\[\]\\]+@[^\s<>@,;:\"()\[\]\\]+"
_BARE_ADDRESS = re.compile(rf"\s*({_ADDR})\s*")
_NAMED_ADDRESS = re.compile(rf"\s*([^<>@,;:\"()\[\]\\]*?)\s*<({_ADDR})>\s*")


def _simple_addresses(value: str) -> list[tuple[str, str]] | None:
    """Parse a plain address list (``a@b, Name <c@d>``) quickly, or None if not plain.

    ``email.utils.getaddresses`` walks the text a character at a time in Python
    (and, since the CVE-2023-27043 fix, twice): a third of the ingest cost of a
    small message.  Lists without quotes, comments, groups or routes are parsed
    here with the same result; anything else goes to the standard library.
    """
    if '"' in value or "(" in value or "\\" in value or ";" in value:
        return None
    pairs = []
    for piece in value.split(","):
        if not piece.strip():
            continue
        bare = _BARE_ADDRESS.fullmatch(piece)
        if bare is not None:
            pairs.append(("", bare.group(1)))
            continue
        named = _NAMED_ADDRESS.fullmatch(piece)
        if named is None:
            return None
        pairs.append((" ".join(named.group(1).split()), named.group(2)))
    return pairs


_QUOTED = re.compile(r'"(?:[^"\\]|\\.)*"')


def _top_level_items(value: str) -> int | None:
    """Count the comma-separated items outside quotes and comments; None if unbalanced."""
    text = _QUOTED.sub('""', value.replace("\\(", "").replace("\\)", ""))
    if text.count('"') % 2:
        return None
    depth = 0
    outside = []
    for ch in text:
        depth += (ch == "(") - (ch == ")")
        if depth < 0:
            return None
        outside.append(ch if depth == 0 and ch != ")" else " ")
    if depth:
        return None
    return sum(1 for item in "".join(outside).split(",") if item.strip())


def strict_addresses(value: str) -> list[tuple[str, str]]:
    """Parse one address header value strictly; an ambiguous one yields no address at all.

    ``email.utils.getaddresses`` before the CVE-2023-27043 fix (Python 3.11.7
    among others) reads ``alice@example.org)<bob@example.org>`` as two
    senders, the first of them alice: a header can name someone it is not
    from.  Where the standard library has the fix (``strict=True``) it is
    used; elsewhere the same rule is checked here: parentheses and quotes
    balance, no address holds a ``[`` outside a domain literal, and the parse found exactly as
    many addresses as the header has comma-separated items.
    """
    if getattr(email.utils, "supports_strict_parsing", False):
        pairs = email.utils.getaddresses([value], strict=True)  # type: ignore[call-arg, unused-ignore]
        return [] if pairs == [("", "")] else pairs
    expected = _top_level_items(value)
    if expected is None:
        return []
    pairs = [pair for pair in email.utils.getaddresses([value]) if pair != ("", "")]
    if len(pairs) != expected and not (
        expected == 1 and not pairs and value.rstrip().endswith(";")
    ):
        return []
    if any(_stray_bracket(address) for _name, address in pairs):
        return []
    return pairs


def _stray_bracket(address: str) -> bool:
    """Tell whether a parsed address holds a ``[`` that is not a whole domain literal."""
    local, _at, domain = address.rpartition("@")
    if "[" in local:
        return True
    return "[" in domain and not (domain.startswith("[") and domain.endswith("]"))


def parse_addresses(values: list[str]) -> tuple[Address, ...]:
    """Parse header values into addresses, decoding encoded display names."""
    if not values:
        return ()
    raw_values = [clean_text(undo_surrogates(str(v)[:MAX_HEADER_CHARS])) for v in values]
    pairs: list[tuple[str, str]] = []
    try:
        for value in raw_values:
            simple = _simple_addresses(value)
            pairs.extend(simple if simple is not None else strict_addresses(value))
    except Exception:  # noqa: BLE001
        return ()
    result = []
    for name, address in pairs[:MAX_ADDRESSES]:
        address = clean_text(address)
        if not address and not name:
            continue
        result.append(Address(decode_header_value(name), address))
    return tuple(result)


def _date(value: str) -> float | None:
    """Parse an RFC 5322 date to a Unix timestamp, or None."""
    if not value:
        return None
    try:
        parsed = email.utils.parsedate_to_datetime(value[:256])
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if parsed is None:
        return None
    try:
        return parsed.timestamp()
    except (OverflowError, OSError, ValueError):
        return None


def _get_all(msg: Compat32Message, name: str) -> list[str]:
    """Return every value of a header as text, raw 8-bit bytes read as UTF-8."""
    return [raw_header_text(v) for v in msg.get_all(name, [])]


def plus_tags(addresses: list[str]) -> list[str]:
    """Return the plus-addressing tags (``user+tag@host``) of the addresses."""
    tags = []
    for address in addresses:
        local = address.rsplit("@", 1)[0]
        if "+" in local:
            tag = local.split("+", 1)[1].strip()
            if tag:
                tags.append(tag)
    return tags


def header_tags(values: list[str]) -> list[str]:
    """Return tags from X-Tags header values (comma separated)."""
    tags = []
    for value in values:
        for tag in decode_header_value(value).split(","):
            tag = tag.strip()
            if tag:
                tags.append(tag)
    return tags


def normalize_tags(tags: Iterable[str]) -> tuple[str, ...]:
    """Return tags trimmed, without empties or case-insensitive duplicates (first spelling kept).

    Double quotes are dropped: the search language groups with them and has no
    escape, so a tag holding one could never be found with ``tag:`` (Mailpit
    drops them too, with every other character outside ``[A-Za-z0-9 ._-]``;
    mailsink keeps the rest, Unicode included, since each can be searched).
    """
    seen: set[str] = set()
    out = []
    for tag in tags:
        tag = " ".join(str(tag).replace('"', "").split())[:100]
        if tag and tag.lower() not in seen:
            seen.add(tag.lower())
            out.append(tag)
    return tuple(out)


MAX_LINE = 998
"""RFC 5322's limit on the octets of a line, CR LF excluded (here: everything between LFs)."""


def has_long_lines(raw: bytes) -> bool:
    """Tell whether any stretch between line feeds is longer than ``MAX_LINE`` octets.

    Jumps from line feed to line feed a window at a time: ``rfind`` looks
    for the last LF within the next ``MAX_LINE + 1`` octets, so every line
    inside the window is short and a 100 KB message takes about a hundred
    steps rather than a split into a thousand line objects.
    """
    start, end = 0, len(raw)
    while end - start > MAX_LINE:
        newline = raw.rfind(b"\n", start, start + MAX_LINE + 1)
        if newline < 0:
            return True
        start = newline + 1
    return False


def summarize(raw: bytes, envelope: Envelope) -> Summary:
    """Extract the list and search fields from raw bytes and the envelope.

    The MIME tree comes from :func:`~mailsink.outline.parse_outline` (a scan
    for boundaries: attachments are neither decoded nor walked line by line)
    and, for what that declines, from the feed parser.
    """
    return summary_of(parse_outline(raw) or parse_bytes(raw), raw, envelope)


def summary_of(msg: Compat32Message | None, raw: bytes, envelope: Envelope) -> Summary:
    """Extract the summary from a parsed message (None: unparseable) and its raw bytes."""
    if msg is None:
        return Summary(size=len(raw), long_lines=has_long_lines(raw))
    header_addresses: set[str] = set()
    to = parse_addresses(_get_all(msg, "To"))
    cc = parse_addresses(_get_all(msg, "Cc"))
    bcc_header = parse_addresses(_get_all(msg, "Bcc"))
    for group in (to, cc, bcc_header):
        header_addresses.update(a.address.lower() for a in group)
    envelope_only = tuple(
        Address("", rcpt) for rcpt in envelope.rcpt_tos if rcpt.lower() not in header_addresses
    )
    senders = parse_addresses(_get_all(msg, "From"))
    text, html_body, attachments, inline = _bodies(msg)
    body_text = text or html_to_text(html_body)
    tags = header_tags(_get_all(msg, "X-Tags")) + plus_tags(
        list(envelope.rcpt_tos) + [a.address for a in to + cc]
    )
    return Summary(
        message_id=decode_header_value(msg.get("Message-ID", "")).strip("<>"),
        subject=decode_header_value(msg.get("Subject", "")),
        from_=senders[0] if senders else None,
        to=to,
        cc=cc,
        reply_to=parse_addresses(_get_all(msg, "Reply-To")),
        bcc=bcc_header + envelope_only,
        return_path=decode_header_value(msg.get("Return-Path", "")).strip("<>"),
        date=_date(str(msg.get("Date", ""))),
        size=len(raw),
        snippet=make_snippet(body_text),
        text=body_text[:MAX_TEXT_CHARS],
        attachments=attachments,
        inline=inline,
        tags=normalize_tags(tags),
        long_lines=has_long_lines(raw),
    )


def _bodies(msg: Compat32Message) -> tuple[str, str, int, int]:
    """Return the first text and HTML bodies and the attachment/inline counts.

    The HTML body is decoded only when there is no text body: the summary
    shows and indexes the text one, and decoding an unread HTML part was a
    tenth of a newsletter's summary.
    """
    text = html_body = ""
    html_parts: list[Compat32Message] = []
    attachments = inline = 0
    for _part_id, part in walk_leaves(msg):
        kind = classify(part)
        if kind == "attachment":
            attachments += 1
        elif kind == "inline":
            inline += 1
        elif kind == "text" and not text:
            text = part_text(part)
        elif kind == "html":
            html_parts.append(part)
    for part in html_parts if not text else ():
        html_body = part_text(part)
        if html_body:
            break
    return text, html_body, attachments, inline


def make_snippet(text: str) -> str:
    """Return the first words of a body, whitespace collapsed."""
    return " ".join(text[: SNIPPET_CHARS * 8].split())[:SNIPPET_CHARS]
