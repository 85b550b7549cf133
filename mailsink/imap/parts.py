"""A message's MIME structure as byte ranges of its raw bytes; ENVELOPE and BODYSTRUCTURE.

IMAP serves parts of a message by section number (``BODY[1.2]``,
``BODY[2.HEADER]``) and must serve them exactly as stored.  Rather than
re-serialise what the ``email`` package parsed (which changes line endings and
folding), this module finds each part's header and body as offsets into the
raw bytes; the ``email`` package only reads header values.  Bounded: at most
``MAX_PARTS`` parts and ``MAX_DEPTH`` levels; deeper structure is served as
opaque bodies.
"""

from __future__ import annotations

import email.utils
import re
from dataclasses import dataclass, field
from email.message import Message as EmailMessage
from email.parser import BytesHeaderParser
from email.policy import compat32

from mailsink.imap.wire import NIL, parenthesised, string

MAX_PARTS = 1000
MAX_DEPTH = 20

_HEADER_PARSER = BytesHeaderParser(policy=compat32)


@dataclass
class Part:
    """One MIME entity: ``raw[start:body]`` is its header (with the blank line), then its body."""

    start: int
    body: int
    end: int
    headers: EmailMessage
    children: list[Part] = field(default_factory=list)
    message: Part | None = None
    """The encapsulated message of a message/rfc822 part."""

    @property
    def mime_type(self) -> tuple[str, str]:
        """Return (type, subtype), lowercased, with RFC 2045's text/plain default."""
        value = self.headers.get("Content-Type")
        if value is None:
            return "text", "plain"
        full = str(value).split(";", 1)[0].strip().lower()
        main, _, sub = full.partition("/")
        if not main or not sub:
            return "text", "plain"
        return main, sub

    def params(self) -> list[tuple[str, str]]:
        """Return the Content-Type parameters (name, value)."""
        if self.headers.get("Content-Type") is None:
            return [("charset", "us-ascii")] if self.mime_type == ("text", "plain") else []
        pairs = self.headers.get_params(header="content-type") or []
        return [(str(k), str(email.utils.collapse_rfc2231_value(v))) for k, v in pairs[1:]]


def head_end(raw: bytes, start: int = 0, end: int | None = None) -> int:
    """Return where the body starts: just after the first empty line (``end`` if none)."""
    end = len(raw) if end is None else end
    if raw.startswith(b"\r\n", start) and start + 2 <= end:
        return start + 2
    if raw.startswith(b"\n", start) and start + 1 <= end:
        return start + 1
    crlf = raw.find(b"\n\r\n", start, end)
    lf = raw.find(b"\n\n", start, crlf if crlf >= 0 else end)
    if lf >= 0:
        return lf + 2
    if crlf >= 0:
        return crlf + 3
    return end


def parse_headers(raw: bytes) -> EmailMessage:
    """Return the top-level header of a message, parsed (for ENVELOPE and SEARCH)."""
    return _HEADER_PARSER.parsebytes(raw[: head_end(raw)])


def parse_parts(raw: bytes) -> Part:
    """Return the part tree of a whole message."""
    budget = [MAX_PARTS]
    return _part(raw, 0, len(raw), 0, budget, digest=False)


def _part(raw: bytes, start: int, end: int, depth: int, budget: list[int], digest: bool) -> Part:
    body = head_end(raw, start, end)
    headers = _HEADER_PARSER.parsebytes(raw[start:body])
    part = Part(start, body, end, headers)
    if digest and headers.get("Content-Type") is None:
        part.headers["Content-Type"] = "message/rfc822"
    budget[0] -= 1
    if depth >= MAX_DEPTH or budget[0] <= 0:
        return part
    main, sub = part.mime_type
    if main == "multipart":
        boundary = part.headers.get_param("boundary", header="content-type")
        if isinstance(boundary, tuple):
            boundary = email.utils.collapse_rfc2231_value(boundary)
        if isinstance(boundary, str) and boundary:
            for s, e in _split(raw, body, end, boundary.encode("utf-8", "surrogateescape")):
                if budget[0] <= 0:
                    break
                part.children.append(_part(raw, s, e, depth + 1, budget, sub == "digest"))
    elif (main, sub) in (("message", "rfc822"), ("message", "global")):
        part.message = _part(raw, body, end, depth + 1, budget, digest=False)
    return part


def _split(raw: bytes, start: int, end: int, boundary: bytes) -> list[tuple[int, int]]:
    """Return the (start, end) of each body part between ``--boundary`` lines."""
    pattern = re.compile(rb"(?:^|(?<=\n))--" + re.escape(boundary) + rb"(--)?[ \t]*(?:\r?\n|$)")
    ranges: list[tuple[int, int]] = []
    current: int | None = None
    for match in pattern.finditer(raw, start, end):
        if match.start() != start and raw[match.start() - 1 : match.start()] != b"\n":
            continue
        # The line break before a delimiter belongs to the delimiter (RFC 2046 5.1.1).
        stop = match.start()
        if stop > start and raw[stop - 1 : stop] == b"\n":
            stop -= 2 if raw[stop - 2 : stop] == b"\r\n" else 1
        if current is not None:
            ranges.append((current, max(current, stop)))
        if match.group(1):
            return ranges
        current = match.end()
        if len(ranges) >= MAX_PARTS:
            return ranges
    if current is not None:  # no closing delimiter: the last part runs to the end
        ranges.append((current, end))
    return ranges


def find(root: Part, numbers: list[int]) -> Part | None:
    """Return the part a section number such as [1, 2] names, or None."""
    part = root
    for number in numbers:
        if part.message is not None:
            part = part.message
        if part.children:
            if not 1 <= number <= len(part.children):
                return None
            part = part.children[number - 1]
        elif number != 1:
            return None
    return part


def line_count(data: bytes) -> int:
    """Return how many lines a body has (a last line without a newline counts)."""
    return data.count(b"\n") + (1 if data and not data.endswith(b"\n") else 0)


def _value(headers: EmailMessage, name: str) -> str | None:
    value = headers.get(name)
    if value is None:
        return None
    return " ".join(str(value).replace("\r", "").split("\n")).strip()


def _addresses(headers: EmailMessage, name: str) -> bytes:
    values = headers.get_all(name)
    if not values:
        return NIL
    text = [" ".join(str(v).split()) for v in values]
    items = []
    for display, address in email.utils.getaddresses(text)[:1000]:
        if not address and not display:
            continue
        mailbox, at, host = address.rpartition("@")
        if not at:
            mailbox, host = address, "MISSING_DOMAIN"
        items.append(
            b"(" + b" ".join([string(display or None), NIL, string(mailbox), string(host)]) + b")"
        )
    # Addresses follow each other without spaces: "(" 1*address ")" (RFC 3501 9).
    return b"(" + b"".join(items) + b")" if items else NIL


def envelope(headers: EmailMessage) -> bytes:
    """Return the ENVELOPE of a message header (RFC 3501 7.4.2)."""
    from_ = _addresses(headers, "From")
    fields = [
        string(_value(headers, "Date")),
        string(_value(headers, "Subject")),
        from_,
        _addresses(headers, "Sender") if headers.get("Sender") else from_,
        _addresses(headers, "Reply-To") if headers.get("Reply-To") else from_,
        _addresses(headers, "To"),
        _addresses(headers, "Cc"),
        _addresses(headers, "Bcc"),
        string(_value(headers, "In-Reply-To")),
        string(_value(headers, "Message-ID")),
    ]
    return b"(" + b" ".join(fields) + b")"


def bodystructure(raw: bytes, part: Part, extended: bool = True) -> bytes:
    """Return the BODYSTRUCTURE (or, with ``extended=False``, BODY) of a part."""
    main, sub = part.mime_type
    if main == "multipart" and part.children:
        inner = b"".join(bodystructure(raw, child, extended) for child in part.children)
        out = inner + b" " + string(sub.upper())
        if extended:
            out += b" " + _params(part) + b" NIL NIL NIL"
        return b"(" + out + b")"
    if main == "multipart":  # no parts found: serve it as an opaque body
        main, sub = "application", "octet-stream"
    encoding = _value(part.headers, "Content-Transfer-Encoding") or "7BIT"
    size = part.end - part.body
    fields = [
        string(main.upper()),
        string(sub.upper()),
        _params(part),
        string(_value(part.headers, "Content-ID")),
        string(_value(part.headers, "Content-Description")),
        string(encoding.upper()),
        b"%d" % size,
    ]
    if part.message is not None:
        fields += [
            envelope(part.message.headers),
            bodystructure(raw, part.message, extended),
            b"%d" % line_count(raw[part.body : part.end]),
        ]
    elif main == "text":
        fields.append(b"%d" % line_count(raw[part.body : part.end]))
    if extended:
        fields += [string(_value(part.headers, "Content-MD5")), _disposition(part), NIL, NIL]
    return b"(" + b" ".join(fields) + b")"


def _params(part: Part) -> bytes:
    items: list[bytes] = []
    for name, value in part.params()[:100]:
        items += [string(name.upper()), string(value)]
    return parenthesised(items)


def _disposition(part: Part) -> bytes:
    value = part.headers.get("Content-Disposition")
    if value is None:
        return NIL
    kind = str(value).split(";", 1)[0].strip()
    pairs = part.headers.get_params(header="content-disposition") or []
    items: list[bytes] = []
    for name, param in pairs[1:100]:
        items += [string(str(name).upper()), string(str(email.utils.collapse_rfc2231_value(param)))]
    return b"(" + string(kind.upper() or "ATTACHMENT") + b" " + parenthesised(items) + b")"
