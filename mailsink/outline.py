"""The MIME tree of a message for its ingest summary, found by scanning for boundaries.

The feed parser walks every line of every part in Python, so a 200 KB
base64 attachment costs thousands of loop iterations before anyone looks at
it (72% of ingest for a newsletter, issue 19).  :func:`parse_outline`
instead cuts each multipart's body at its boundary lines with ``bytes.find``
(C), parses each part's headers alone, and keeps each leaf's body as a byte
range of the message rather than a copy: a leaf's text is made only when
someone reads its payload (:class:`OutlineMessage`), which for the summary
is the first text part (and the first HTML part when there is no text one).
An attachment costs the scan for its boundary and nothing else; decoding its
200 KB of base64 to a string, as a copy did, was a quarter of the summary.

The tree is what the feed parser builds for well-formed mail (the same
parts, headers and payloads; no preamble or epilogue), which is all the
summary reads.  Anything unusual - a header defect, a bare CR where the
feed parser would end a line differently (see :func:`_head`), a missing
close boundary, a part without headers, ``message/*`` parts, a nested
boundary that overlaps its parent's, more than :data:`~mailsink.mime.MAX_PARTS`
parts - returns None, and the caller parses with the feed parser as before.
"""

from __future__ import annotations

import itertools
import re
from email.message import Message as Compat32Message
from email.parser import BytesParser
from email.policy import compat32
from typing import Any

from mailsink.mime import MAX_PARTS, BoundedMessage

MAX_OUTLINE_DEPTH = 20
"""Deepest multipart nesting :func:`parse_outline` splits itself (deeper: the feed parser)."""

HEADER_LINE_COST = 6
"""What a header line costs the parse, in the units of ``ingest.parse_cost`` (about 1 us)."""
PART_COST = 40
"""What a MIME part (its boundary line and header block) costs, in the same units."""

_BARE_CR = re.compile(rb"\r(?!\n)")
"""A CR that is not the start of a CRLF: the feed parser ends a line there too."""


class _UnsureError(Exception):
    """Raised where the feed parser might read the bytes otherwise: it takes over."""


class _Budget:
    """What is left of the parts and the cost one outline parse may spend."""

    __slots__ = ("cost", "parts")

    def __init__(self, parts: int, cost: float) -> None:
        self.parts = parts
        self.cost = cost


class OutlineMessage(BoundedMessage):
    """A part whose body is a byte range of the message until its payload is first read.

    Only the methods that read the payload look at the range; headers, the
    content type and ``is_multipart`` (False for a leaf) never need it.
    """

    _span: tuple[bytes, int, int] | None = None

    def keep_span(self, raw: bytes, start: int, end: int) -> None:
        """Make ``raw[start:end]`` this leaf's body, to be decoded when first read."""
        self._span = (raw, start, end)

    def get_payload(self, i: int | None = None, decode: bool = False) -> Any:
        """Return the payload as compat32 does, making the body text on first use."""
        if self._span is not None:
            raw, start, end = self._span
            self.set_payload(raw[start:end].decode("ascii", "surrogateescape"))
        return super().get_payload(i, decode)  # type: ignore[call-overload]

    def set_payload(self, payload: Any, charset: Any = None) -> None:
        """Set the payload as compat32 does; a kept range is forgotten."""
        self._span = None
        super().set_payload(payload, charset)


_parser = BytesParser(OutlineMessage, policy=compat32)


def parse_outline(raw: bytes, max_cost: float = float("inf")) -> Compat32Message | None:
    """Parse a message's MIME tree by scanning for boundaries; None when unsure (see above).

    Also None once the parse would cost more than ``max_cost``, counted
    before each step as :data:`HEADER_LINE_COST` a header line and
    :data:`PART_COST` a part: the ingest parses on the event loop within
    such a bound, and a message over it goes to a thread.  A body costs
    nothing here (``bytes.find`` jumps over it), so the bound needs no scan
    of the whole message beforehand (that scan was 0.2 ms of a newsletter's
    3 ms, issue 19).
    """
    try:
        return _entity(raw, 0, len(raw), (), _Budget(MAX_PARTS, max_cost))
    except (RecursionError, Exception):  # noqa: BLE001 - hostile input must never raise
        return None


def _entity(
    raw: bytes, start: int, end: int, parents: tuple[bytes, ...], budget: _Budget
) -> OutlineMessage | None:
    """Parse the entity ``raw[start:end]``; ``parents`` are the enclosing boundaries."""
    budget.parts -= 1
    budget.cost -= PART_COST
    if budget.parts < 0 or budget.cost < 0 or len(parents) > MAX_OUTLINE_DEPTH:
        return None
    head = _head(raw, start, end, budget)
    if head is None or head[0].get_content_maintype() == "message":
        return None
    msg, body_start = head
    if msg.get_content_maintype() != "multipart":
        msg.keep_span(raw, body_start, end)
        return msg
    boundary = msg.get_boundary()
    if not boundary or msg.get_content_subtype() == "digest":
        return None  # a digest's parts default to message/rfc822
    return _parts(msg, raw, body_start, end, boundary.encode("ascii"), parents, budget)


def _head(raw: bytes, start: int, end: int, budget: _Budget) -> tuple[OutlineMessage, int] | None:
    """Parse the header block at ``start``: (headers, where the body starts), None when unsure.

    The feed parser also ends a line at a bare CR, which matters in two
    places only: in a header block (where lines and the blank line after it
    are) and next to a boundary line (:func:`_next_line_with`,
    :func:`_line_end_after_blanks`).  Inside a leaf's body
    it does not: the payload is its lines joined again, the same bytes, so a
    stray CR in a newsletter's HTML no longer sends the whole message to the
    feed parser; and looking for one in every byte of a 232 KB newsletter had
    cost about 65 us of its 710 us summary (issue 19).
    """
    crlf = raw.find(b"\n\r\n", start, end)
    # "\n\n" ending at the CRLF's CR ("\n\n\r\n") is the earlier blank line: searched up to it.
    lf = raw.find(b"\n\n", start, crlf + 1 if crlf >= 0 else end)
    head_end = lf if lf >= 0 else crlf
    if head_end < 0 or raw[start : start + 1] in (b"\r", b"\n"):
        return None
    body_start = head_end + (3 if raw[head_end + 1 : head_end + 2] == b"\r" else 2)
    budget.cost -= HEADER_LINE_COST * raw.count(b"\n", start, body_start)
    if budget.cost < 0 or _BARE_CR.search(raw, start, body_start):
        return None
    block = raw[start : head_end + 1]
    msg = _plain_header_block(block)
    if msg is None:
        parsed = _parser.parsebytes(block, headersonly=True)
        if parsed.defects:
            return None
        assert isinstance(parsed, OutlineMessage)
        msg = parsed
    return msg, body_start


_HEADER_FIELD = re.compile(r"([\041-\071\073-\176]+):([^\n]*\n(?:[ \t][^\n]*\n)*)")
"""One header field: a name of the feed parser's ``headerRE`` characters, a colon, then
the rest of its line and its continuation lines (the block has no bare CR: LF ends lines)."""


def _plain_header_block(block: bytes) -> OutlineMessage | None:
    """Parse a header block of plain fields only, as the feed parser would; None otherwise.

    The feed parser's setup (a FeedParser, its line buffer, a generator per
    parse) cost 16-30 us for a header block of two to eight lines: a newsletter's
    five blocks were a sixth of its summary.  A block made of nothing
    but ``Name: value`` lines and their continuations comes out of compat32
    as these pairs (``header_source_parse``: the value's leading blanks and
    its final line break removed, inner folding kept); anything else (a
    ``From `` line, a line without a colon, a first line that continues
    nothing) is left to the feed parser, whose defects make the outline
    decline.
    """
    text = block.decode("ascii", "surrogateescape")
    fields = []
    at = 0
    for field in _HEADER_FIELD.finditer(text):
        if field.start() != at:
            return None
        at = field.end()
        fields.append((field[1], field[2].lstrip(" \t").rstrip("\r\n")))
    if at != len(text):
        return None
    msg = OutlineMessage(policy=compat32)
    for name, value in fields:
        msg.set_raw(name, value)
    msg.set_payload("")
    return msg


def _parts(
    msg: OutlineMessage,
    raw: bytes,
    start: int,
    end: int,
    boundary: bytes,
    parents: tuple[bytes, ...],
    budget: _Budget,
) -> OutlineMessage | None:
    """Cut the multipart body ``raw[start:end]`` at its boundary lines and parse each part."""
    if any(boundary.startswith(p) or p.startswith(boundary) for p in parents):
        return None
    lines = _boundary_lines(raw, start, end, b"--" + boundary)
    if len(lines) < 2 or not lines[-1][2]:
        return None
    msg.set_payload([])
    for (_, opened, _), (closing, _, _) in itertools.pairwise(lines):
        # The line break before a boundary line belongs to the boundary.
        if closing - 2 >= opened and raw.startswith(b"\r\n", closing - 2):
            closing -= 2
        elif closing - 1 >= opened and raw.startswith(b"\n", closing - 1):
            closing -= 1
        part = _entity(raw, opened, closing, (*parents, boundary), budget)
        if part is None:
            return None
        msg.attach(part)
    return msg


def _boundary_lines(
    raw: bytes, start: int, end: int, separator: bytes
) -> list[tuple[int, int, bool]]:
    """Return (start, end, is_close) of each boundary line in a range, up to the first close.

    A boundary line is the separator at the start of a line, ``--`` for the
    close, then only blanks up to the line break: the feed parser's rule.
    ``bytes.find`` jumps between candidates in C.
    """
    found: list[tuple[int, int, bool]] = []
    at = (
        start
        if raw.startswith(separator, start, end)
        else _next_line_with(raw, separator, start, end)
    )
    while at >= 0:
        after = at + len(separator)
        line_end = (
            _line_end_after_blanks(raw, after + 2, end) if raw.startswith(b"--", after, end) else -1
        )
        if line_end >= 0:
            found.append((at, line_end, True))
            return found
        line_end = _line_end_after_blanks(raw, after, end)
        if line_end >= 0:
            found.append((at, line_end, False))
        at = _next_line_with(raw, separator, after, end)
    return found


def _next_line_with(raw: bytes, separator: bytes, position: int, end: int) -> int:
    """Return where the next line starting with ``separator`` after ``position`` starts, or -1.

    Raises :class:`_UnsureError` at a separator right after a bare CR, where
    the feed parser starts a line (after a CRLF the byte before is the LF).
    The same ``find`` that looks for the boundary finds those: no second
    scan of the body for them.
    """
    found = raw.find(separator, position + 1, end)
    while found >= 0:
        before = raw[found - 1]
        if before == 10:  # LF
            return found
        if before == 13:  # a bare CR
            raise _UnsureError
        found = raw.find(separator, found + 1, end)
    return -1


def _line_end_after_blanks(raw: bytes, position: int, end: int) -> int:
    """Return where the next line starts if only blanks precede the break, else -1."""
    while position < end and raw[position] in b" \t":
        position += 1
    if position >= end:
        return end
    if raw[position] == 10:  # LF
        return position + 1
    if raw.startswith(b"\r\n", position, end):
        return position + 2
    if raw[position] == 13:  # a bare CR: the feed parser would end a boundary line there
        raise _UnsureError
    return -1
