"""FETCH: parse the attributes a client asks for, and render them for one message.

Sections are served from byte ranges of the raw message (``parts.py``), so
``BODY[]`` is the stored bytes exactly and ``RFC822.SIZE`` is their length.
The response is a list of chunks so a large body is written without being
copied into one bigger string.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

from mailsink.imap.mailbox_view import Facts
from mailsink.imap.parser import Atom, CommandError, Value
from mailsink.imap.parts import (
    Part,
    bodystructure,
    envelope,
    find,
    head_end,
    parse_headers,
    parse_parts,
)
from mailsink.imap.wire import literal, parenthesised

_MACROS = {
    "ALL": ["FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE"],
    "FAST": ["FLAGS", "INTERNALDATE", "RFC822.SIZE"],
    "FULL": ["FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE", "BODY"],
}
_SIMPLE = {
    "UID",
    "FLAGS",
    "INTERNALDATE",
    "RFC822.SIZE",
    "ENVELOPE",
    "BODYSTRUCTURE",
    "BODY",
    "RFC822",
    "RFC822.HEADER",
    "RFC822.TEXT",
}
_BODY_ITEM = re.compile(r"(BODY|BODY\.PEEK)\[([^\]]*)\](?:<(\d{1,10})\.(\d{1,10})>)?", re.I | re.S)
_SECTION = re.compile(
    r"((?:[1-9]\d{0,4})(?:\.[1-9]\d{0,4}){0,19})?"
    r"(?:(?:^|\.)(HEADER\.FIELDS\.NOT|HEADER\.FIELDS|HEADER|TEXT|MIME)(?:\s*\((.*)\))?)?",
    re.I | re.S,
)
_HEADER_LINE = re.compile(rb"[^\n]*\n|[^\n]+")


@dataclass(frozen=True, slots=True)
class Item:
    """One thing to fetch: a simple attribute, or a body section with an optional range."""

    name: str
    numbers: tuple[int, ...] = ()
    text: str = ""
    """HEADER, TEXT, MIME, HEADER.FIELDS, HEADER.FIELDS.NOT, or "" for the whole part."""
    fields: tuple[str, ...] = ()
    peek: bool = True
    partial: tuple[int, int] | None = None
    label: str = ""

    @property
    def needs_raw(self) -> bool:
        """Tell whether rendering reads the message's bytes."""
        return self.name not in ("UID", "FLAGS", "INTERNALDATE", "RFC822.SIZE")

    @property
    def sets_seen(self) -> bool:
        """Tell whether fetching this marks the message read (BODY[...] without PEEK)."""
        return not self.peek


def parse_items(args: list[Value]) -> list[Item]:
    """Parse the attribute argument of FETCH: a macro, one attribute, or a list."""
    if len(args) != 1:
        raise CommandError("FETCH takes a sequence set and one attribute or list")
    value = args[0]
    atoms: list[Value] = value if isinstance(value, list) else [value]
    if isinstance(value, Atom) and value.upper() in _MACROS:
        atoms = [Atom(a) for a in _MACROS[value.upper()]]
    items = [_item(a) for a in atoms]
    if not items:
        raise CommandError("nothing to fetch")
    return items


def _item(value: Value) -> Item:  # noqa: C901 - the grammar of a fetch attribute
    if not isinstance(value, Atom):
        raise CommandError("fetch attributes are atoms")
    upper = value.upper()
    if upper in _SIMPLE:
        peek = upper not in ("RFC822", "RFC822.TEXT")
        return Item(upper, peek=peek, label=upper)
    match = _BODY_ITEM.fullmatch(value)
    if not match:
        raise CommandError(f"unknown fetch attribute {value[:50]!r}")
    section = " ".join(match.group(2).split())
    sec = _SECTION.fullmatch(section)
    if not sec:
        raise CommandError(f"bad section {section[:50]!r}")
    numbers = tuple(int(n) for n in sec.group(1).split(".")) if sec.group(1) else ()
    text = (sec.group(2) or "").upper()
    fields: tuple[str, ...] = ()
    if text.startswith("HEADER.FIELDS"):
        if sec.group(3) is None:
            raise CommandError("HEADER.FIELDS needs a list of names")
        fields = tuple(f.strip('"').lower() for f in sec.group(3).split() if f.strip('"'))
        if not fields:
            raise CommandError("HEADER.FIELDS needs a list of names")
    elif sec.group(3) is not None:
        raise CommandError(f"bad section {section[:50]!r}")
    if text == "MIME" and not numbers:
        raise CommandError("MIME needs a part number")
    partial = None
    if match.group(3) is not None:
        count = int(match.group(4))
        if count == 0:
            raise CommandError("a partial fetch needs a non-zero length")
        partial = (int(match.group(3)), count)
    # The label is the section written back canonically: part numbers, upper-case
    # names, header field names unquoted.
    label_section = ".".join([*map(str, numbers), *([text] if text else [])])
    if fields:
        label_section += " (" + " ".join(f.upper() for f in fields) + ")"
    label = f"BODY[{label_section}]"
    if partial:
        label += f"<{partial[0]}>"
    return Item(
        "BODY[]",
        numbers,
        text,
        fields,
        peek=match.group(1).upper() == "BODY.PEEK",
        partial=partial,
        label=label,
    )


def internal_date(received: float) -> str:
    """Return the INTERNALDATE text of a receive time (in UTC)."""
    return time.strftime("%d-%b-%Y %H:%M:%S +0000", time.gmtime(received))


class Rendering:
    """Render the items for one message, parsing its MIME structure at most once."""

    def __init__(self, facts: Facts | None, raw: bytes | None, uid: int, flags: bytes) -> None:
        """Prepare to render; ``facts`` may be None when no item needs them."""
        self.facts = facts
        self.raw = raw or b""
        self.uid = uid
        self.flags = flags
        self._root: Part | None = None

    @property
    def root(self) -> Part:
        if self._root is None:
            self._root = parse_parts(self.raw)
        return self._root

    def render(self, items: list[Item], sequence: int) -> list[bytes]:
        """Return the chunks of ``* n FETCH (...)`` (with CRLF) for the items."""
        chunks: list[bytes] = [b"* %d FETCH (" % sequence]
        first = True
        for item in items:
            if not first:
                chunks.append(b" ")
            first = False
            chunks.append(item.label.encode("ascii") + b" ")
            chunks.extend(self._value(item))
        chunks.append(b")\r\n")
        return chunks

    def _value(self, item: Item) -> list[bytes]:  # noqa: C901, PLR0911 - one branch per attribute
        name = item.name
        if name == "UID":
            return [b"%d" % self.uid]
        if name == "FLAGS":
            return [self.flags]
        if name == "INTERNALDATE":
            assert self.facts is not None
            return [b'"' + internal_date(self.facts.received).encode() + b'"']
        if name == "RFC822.SIZE":
            assert self.facts is not None
            return [b"%d" % self.facts.size]
        if name == "ENVELOPE":
            headers = self._root.headers if self._root else parse_headers(self.raw)
            return [envelope(headers)]
        if name == "BODYSTRUCTURE":
            return [bodystructure(self.raw, self.root, extended=True)]
        if name == "BODY":
            return [bodystructure(self.raw, self.root, extended=False)]
        if name == "RFC822":
            return _literal_chunks(self.raw)
        if name == "RFC822.HEADER":
            return _literal_chunks(self.raw[: head_end(self.raw)])
        if name == "RFC822.TEXT":
            return _literal_chunks(self.raw[head_end(self.raw) :])
        data = self.section(item)
        if item.partial is not None:
            start, count = item.partial
            data = data[start : start + count]
        return _literal_chunks(data)

    def section(self, item: Item) -> bytes:  # noqa: C901, PLR0911 - one branch per section kind
        """Return the bytes of a body section (empty when the part does not exist)."""
        raw = self.raw
        if not item.numbers:
            if not item.text:
                return raw
            body = head_end(raw)
            if item.text == "TEXT":
                return raw[body:]
            if item.text == "HEADER":
                return raw[:body]
            return select_fields(raw[:body], item.fields, exclude=item.text.endswith(".NOT"))
        part = find(self.root, list(item.numbers))
        if part is None:
            return b""
        if item.text == "MIME":
            return raw[part.start : part.body]
        if not item.text:
            return raw[part.body : part.end]
        target = part.message
        if target is None:
            return b""
        if item.text == "TEXT":
            return raw[target.body : target.end]
        head = raw[target.start : target.body]
        if item.text == "HEADER":
            return head
        return select_fields(head, item.fields, exclude=item.text.endswith(".NOT"))


def select_fields(head: bytes, names: tuple[str, ...], exclude: bool) -> bytes:
    """Return the header lines (with their continuations) of the named fields, and a blank line."""
    wanted = set(names)
    out: list[bytes] = []
    keep = False
    for match in _HEADER_LINE.finditer(head):
        line = match.group()
        if line in (b"\r\n", b"\n"):
            break
        if line[:1] in (b" ", b"\t"):
            if keep:
                out.append(line)
            continue
        name = line.split(b":", 1)[0].strip().lower().decode("latin-1")
        keep = (name in wanted) != exclude
        if keep:
            out.append(line)
    out.append(b"\r\n")
    return b"".join(out)


def _literal_chunks(data: bytes) -> list[bytes]:
    if len(data) < 4096:
        return [literal(data)]
    return [b"{%d}\r\n" % len(data), data]


def flag_list(flags: list[str]) -> bytes:
    """Return ``(\\Seen \\Flagged)``: a parenthesised flag list, ``()`` when empty."""
    return parenthesised([f.encode() for f in flags]) if flags else b"()"
