"""The message model: raw bytes plus envelope, and the views parsed from them.

The raw bytes received in DATA are the source of truth and are never altered.
Two views are derived from them with the standard library's ``email`` package:

* :func:`summarize` runs once at ingest and extracts what a list view and a
  search need (addresses, subject, dates, a snippet, the text body, counts).
* :func:`parse_message` runs when a message is opened and returns the full
  MIME tree with decoded bodies and parts.

Both tolerate any input: a message that cannot be parsed still yields a
summary (with what could be read) and never raises.  Headers are parsed with
``compat32`` and decoded by hand because ``email.policy.default`` header
parsing is quadratic on pathological headers (python/cpython#136063); every
header value is also cut to :data:`MAX_HEADER_CHARS` before it is decoded.
"""

from __future__ import annotations

import email.header
import email.utils
import html
import re
import secrets
import time
from dataclasses import dataclass, field
from email.message import Message as EmailMessage
from email.parser import BytesParser
from email.policy import compat32

MAX_HEADER_CHARS = 16_384
"""Longest header value decoded; the rest is ignored by the views (kept in raw)."""

MAX_ADDRESSES = 1_000
"""Most addresses taken from one header."""

MAX_PARTS = 1_000
"""Most MIME parts walked in one message."""

MAX_TEXT_CHARS = 256 * 1024
"""Longest body text kept for search at ingest."""

SNIPPET_CHARS = 250

_ID_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford base32, sorts by time


def new_id() -> str:
    """Return a new message ID: 10 chars of milliseconds then 12 random chars.

    IDs sort by arrival time (to the millisecond) and are URL- and file-safe.
    """
    millis = int(time.time() * 1000)
    value = (millis << 60) | int.from_bytes(secrets.token_bytes(8), "big") >> 4
    chars = []
    for _ in range(22):
        chars.append(_ID_ALPHABET[value & 31])
        value >>= 5
    return "".join(reversed(chars))


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


@dataclass(slots=True)
class Part:
    """One leaf of the MIME tree (a body, an attachment or an inline part)."""

    part_id: str
    content_type: str
    filename: str
    content_id: str
    disposition: str
    charset: str
    payload: bytes

    @property
    def size(self) -> int:
        """Return the decoded size in bytes."""
        return len(self.payload)


@dataclass(slots=True)
class TreeNode:
    """A node of the MIME structure, for showing the part tree."""

    part_id: str
    content_type: str
    filename: str
    size: int
    children: list[TreeNode] = field(default_factory=list)


@dataclass(slots=True)
class ParsedMessage:
    """The full view of a message: headers, bodies, parts and structure."""

    headers: list[tuple[str, str]]
    text: str
    html: str
    attachments: list[Part]
    inline: list[Part]
    parts: dict[str, Part]
    tree: TreeNode
    defects: list[str]

    def header(self, name: str) -> str:
        """Return the first value of header ``name`` (case-insensitive), or ''."""
        wanted = name.lower()
        for key, value in self.headers:
            if key.lower() == wanted:
                return value
        return ""


_parser = BytesParser(policy=compat32)
_header_parser = BytesParser(policy=compat32)


def _parse_bytes(raw: bytes) -> EmailMessage | None:
    """Parse raw bytes with compat32, or return None if even that fails.

    A message that is not multipart has its headers parsed and its body set
    as one string: the feed parser would otherwise walk the body line by line
    in Python, which is most of the cost of a large single-part message.
    """
    try:
        fast = _parse_single_part(raw)
        return fast if fast is not None else _parser.parsebytes(raw)
    except (RecursionError, Exception):  # noqa: BLE001 - hostile input must never raise
        return None


def _parse_single_part(raw: bytes) -> EmailMessage | None:
    """Parse a non-multipart message without splitting its body; None when unsure."""
    ends = [i for i in (raw.find(b"\n\r\n"), raw.find(b"\n\n")) if i >= 0]
    if not ends or raw[:1] in (b"\r", b"\n"):
        return None
    end = min(ends)
    body_start = end + (3 if raw[end + 1 : end + 2] == b"\r" else 2)
    msg = _header_parser.parsebytes(raw[: end + 1], headersonly=True)
    if msg.defects or msg.get_content_maintype() in ("multipart", "message"):
        return None
    msg.set_payload(raw[body_start:].decode("ascii", "surrogateescape"))
    return msg


def decode_header_value(value: object) -> str:
    """Decode an RFC 2047 header value to text, tolerating any garbage.

    Raw 8-bit header bytes (SMTPUTF8 mail) are read as UTF-8 where they are
    valid, else as Latin-1: ``compat32`` hands them over as surrogates or as
    ``unknown-8bit`` Header objects.
    """
    if value is None:
        return ""
    if isinstance(value, email.header.Header):
        try:
            pieces = email.header.decode_header(value)
        except Exception:  # noqa: BLE001
            return _clean(str(value))
        return _clean(_join_pieces(pieces)[:MAX_HEADER_CHARS])
    text = str(value)[:MAX_HEADER_CHARS]
    if "=?" in text:
        try:
            return _clean(_join_pieces(email.header.decode_header(text)))
        except Exception:  # noqa: BLE001
            pass
    return _clean(_undo_surrogates(text))


def _join_pieces(pieces: list[tuple[bytes | str, str | None]]) -> str:
    """Join the (chunk, charset) pairs of email.header.decode_header into text."""
    out = []
    for chunk, charset in pieces:
        if isinstance(chunk, bytes):
            out.append(_decode_bytes(chunk, charset))
        else:
            out.append(_undo_surrogates(chunk))
    return "".join(out)


def _undo_surrogates(text: str) -> str:
    """Turn surrogate-escaped raw bytes back into UTF-8 (or Latin-1) text."""
    if text.isascii() or not any("\udc80" <= ch <= "\udcff" for ch in text):
        return text
    data = text.encode("utf-8", "surrogateescape")
    return _decode_bytes(data, "utf-8")


def _clean(text: str) -> str:
    """Unfold a header value and drop surrogates left by undecodable bytes."""
    text = text.replace("\r\n", "").replace("\n", "")
    return text.encode("utf-8", "replace").decode("utf-8", "replace").strip()


def _decode_bytes(data: bytes, charset: str | None) -> str:
    """Decode bytes in ``charset``, falling back to UTF-8 then Latin-1."""
    for candidate in (charset, "utf-8"):
        if not candidate:
            continue
        try:
            return data.decode(candidate)
        except (LookupError, UnicodeDecodeError, ValueError):
            continue
    return data.decode("latin-1")


def parse_addresses(values: list[str]) -> tuple[Address, ...]:
    """Parse header values into addresses, decoding encoded display names."""
    raw_values = [str(v)[:MAX_HEADER_CHARS] for v in values]
    try:
        pairs = email.utils.getaddresses(raw_values)
    except Exception:  # noqa: BLE001
        return ()
    result = []
    for name, address in pairs[:MAX_ADDRESSES]:
        address = _clean(address)
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


def _get_all(msg: EmailMessage, name: str) -> list[str]:
    """Return every value of a header as strings."""
    return [str(v) for v in msg.get_all(name, [])]


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


def _unique(items: list[str]) -> tuple[str, ...]:
    """Return items without duplicates (case-insensitive), first spelling kept."""
    seen: set[str] = set()
    out = []
    for item in items:
        key = item.lower()
        if key not in seen:
            seen.add(key)
            out.append(item[:100])
    return tuple(out)


def _has_long_lines(raw: bytes) -> bool:
    """Tell whether any line exceeds RFC 5322's 998 octet limit."""
    if len(raw) <= 998:
        return False
    return any(len(line) > 998 for line in raw.split(b"\n"))


def summarize(raw: bytes, envelope: Envelope) -> Summary:
    """Extract the list and search fields from raw bytes and the envelope."""
    msg = _parse_bytes(raw)
    if msg is None:
        return Summary(size=len(raw), long_lines=_has_long_lines(raw))
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
        tags=_unique(tags),
        long_lines=_has_long_lines(raw),
    )


def _bodies(msg: EmailMessage) -> tuple[str, str, int, int]:
    """Return the first text and HTML bodies and the attachment/inline counts."""
    text = html_body = ""
    attachments = inline = 0
    for _part_id, part in _walk_leaves(msg):
        kind = _classify(part)
        if kind == "attachment":
            attachments += 1
        elif kind == "inline":
            inline += 1
        elif kind == "text" and not text:
            text = _part_text(part)
        elif kind == "html" and not html_body:
            html_body = _part_text(part)
    return text, html_body, attachments, inline


def _walk_leaves(msg: EmailMessage) -> list[tuple[str, EmailMessage]]:
    """Return (part_id, part) for each non-multipart leaf, iteratively."""
    leaves: list[tuple[str, EmailMessage]] = []
    stack: list[tuple[str, EmailMessage]] = [("", msg)]
    seen = 0
    while stack and seen < MAX_PARTS:
        part_id, part = stack.pop()
        seen += 1
        payload = part.get_payload()
        if part.is_multipart() and isinstance(payload, list):
            children = [
                (f"{part_id}.{i}" if part_id else str(i), child)
                for i, child in enumerate(payload, 1)
            ]
            stack.extend(reversed(children))
        else:
            leaves.append((part_id or "1", part))
    return leaves


def _classify(part: EmailMessage) -> str:
    """Return 'text', 'html', 'attachment' or 'inline' for a leaf part."""
    ctype = part.get_content_type()
    disposition = str(part.get("Content-Disposition", "")).split(";")[0].strip().lower()
    filename = _filename(part)
    if disposition == "attachment" or (filename and disposition != "inline"):
        return "attachment"
    if ctype == "text/plain":
        return "text"
    if ctype == "text/html":
        return "html"
    if ctype == "message/rfc822":
        return "attachment"
    if disposition == "inline" or part.get("Content-ID"):
        return "inline"
    return "attachment"


def _filename(part: EmailMessage) -> str:
    """Return the part's decoded filename, or ''."""
    try:
        name = part.get_filename() or part.get_param("name") or ""
    except Exception:  # noqa: BLE001
        return ""
    if isinstance(name, tuple):  # RFC 2231 triple
        name = email.utils.collapse_rfc2231_value(name)
    return decode_header_value(name)


def _payload_bytes(part: EmailMessage) -> bytes:
    """Return a leaf's payload with its transfer encoding undone."""
    try:
        data = part.get_payload(decode=True)
    except Exception:  # noqa: BLE001
        data = None
    if isinstance(data, bytes):
        return data
    payload = part.get_payload()
    if isinstance(payload, list):  # message/rfc822 and friends
        return b"".join(p.as_bytes() for p in payload if isinstance(p, EmailMessage))
    if isinstance(payload, str):
        return payload.encode("utf-8", "surrogateescape")
    return b""


def _part_text(part: EmailMessage) -> str:
    """Return a text part's body decoded with its declared charset."""
    charset = part.get_content_charset() or "utf-8"
    return _decode_bytes(_payload_bytes(part), charset)


_TAG_RE = re.compile(r"<[^>]*>")
_DROP_RE = re.compile(r"<(script|style|head)\b.*?</\1\s*>", re.IGNORECASE | re.DOTALL)
_SPACE_RE = re.compile(r"\s+")


def html_to_text(markup: str) -> str:
    """Return the visible text of HTML, roughly, for snippets and search."""
    if not markup:
        return ""
    markup = _DROP_RE.sub(" ", markup[: MAX_TEXT_CHARS * 4])
    return html.unescape(_TAG_RE.sub(" ", markup))


def make_snippet(text: str) -> str:
    """Return the first words of a body, whitespace collapsed."""
    return _SPACE_RE.sub(" ", text[: SNIPPET_CHARS * 8]).strip()[:SNIPPET_CHARS]


def parse_message(raw: bytes) -> ParsedMessage:
    """Parse the whole MIME tree of a message, never raising."""
    msg = _parse_bytes(raw)
    if msg is None:
        _head, _, body = raw.partition(b"\r\n\r\n")
        text = body.decode("utf-8", "replace")
        root = TreeNode("1", "text/plain", "", len(body))
        return ParsedMessage([], text, "", [], [], {}, root, ["unparseable"])
    headers = [(str(k), decode_header_value(v)) for k, v in msg.items()]
    text = html_body = ""
    attachments: list[Part] = []
    inline: list[Part] = []
    parts: dict[str, Part] = {}
    for part_id, leaf in _walk_leaves(msg):
        kind = _classify(leaf)
        payload = _payload_bytes(leaf)
        part = Part(
            part_id=part_id,
            content_type=leaf.get_content_type(),
            filename=_filename(leaf),
            content_id=decode_header_value(leaf.get("Content-ID", "")).strip("<>"),
            disposition=kind if kind in ("attachment", "inline") else "",
            charset=leaf.get_content_charset() or "",
            payload=payload,
        )
        parts[part_id] = part
        if kind == "attachment":
            attachments.append(part)
        elif kind == "inline":
            inline.append(part)
        elif kind == "text" and not text:
            text = _decode_bytes(payload, part.charset or "utf-8")
        elif kind == "html" and not html_body:
            html_body = _decode_bytes(payload, part.charset or "utf-8")
    defects = [type(d).__name__ for d in getattr(msg, "defects", [])]
    return ParsedMessage(
        headers, text, html_body, attachments, inline, parts, _tree(msg, parts), defects
    )


def _tree(msg: EmailMessage, parts: dict[str, Part]) -> TreeNode:
    """Build the MIME structure tree, iteratively and bounded."""
    root = TreeNode("", msg.get_content_type(), "", 0)
    stack: list[tuple[TreeNode, EmailMessage]] = [(root, msg)]
    count = 0
    while stack and count < MAX_PARTS:
        node, part = stack.pop()
        count += 1
        payload = part.get_payload()
        if part.is_multipart() and isinstance(payload, list):
            for i, child in enumerate(payload, 1):
                child_id = f"{node.part_id}.{i}" if node.part_id else str(i)
                child_node = TreeNode(child_id, child.get_content_type(), "", 0)
                node.children.append(child_node)
                stack.append((child_node, child))
        else:
            leaf_id = node.part_id or "1"
            leaf = parts.get(leaf_id)
            if leaf is not None:
                node.filename = leaf.filename
                node.size = leaf.size
    return root


def header_block(raw: bytes) -> str:
    """Return the raw header block of a message as text (undecoded, for searching)."""
    ends = [i for i in (raw.find(b"\n\r\n"), raw.find(b"\n\n")) if i >= 0]
    head = raw[: min(ends) + 1] if ends else raw
    return head[: MAX_HEADER_CHARS * 16].decode("utf-8", "replace")


def header_values(block: str, name: str) -> list[str]:
    """Return the decoded values of header ``name`` (case-insensitive) in a header block."""
    wanted = name.lower()
    values: list[str] = []
    current: list[str] | None = None
    for line in block.splitlines():
        if line[:1] in (" ", "\t") and current is not None:
            current.append(line)  # a folded continuation line
            continue
        if current is not None:
            values.append(decode_header_value("".join(current)))
            current = None
        key, colon, rest = line.partition(":")
        if colon and key.strip().lower() == wanted:
            current = [rest.strip()]
    if current is not None:
        values.append(decode_header_value("".join(current)))
    return values


def header_pairs(raw: bytes) -> list[tuple[str, str]]:
    """Return (lowercased name, decoded value) for each header of the raw message."""
    head, _sep, _body = raw.partition(b"\r\n\r\n")
    if not _sep:
        head, _sep, _body = raw.partition(b"\n\n")
    msg = _parse_bytes(head + b"\r\n\r\n")
    if msg is None:
        return []
    return [(str(k).lower(), decode_header_value(v)) for k, v in msg.items()]
