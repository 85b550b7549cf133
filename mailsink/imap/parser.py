"""Turn one IMAP command (its lines and literals) into a tag, a name and arguments.

Arguments come out typed: ``Atom`` for atoms (also sequence sets, flags and
fetch attributes like ``BODY.PEEK[HEADER.FIELDS (FROM)]<0.100>``, whose
bracketed section is kept whole), ``bytes`` for quoted strings and literals,
and ``list`` for parenthesised lists.  Anything else raises :class:`CommandError`,
which the session answers with ``BAD``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_LITERAL = 64 * 1024
"""Largest literal accepted: LOGIN and SEARCH arguments (APPEND is not offered)."""

MAX_COMMAND = 256 * 1024
"""Most bytes of lines and literals one command may have."""

MAX_NESTING = 16
MAX_TOKENS = 10_000

LITERAL_AT_END = re.compile(rb"\{(\d{1,10})(\+?)\}$")

_TAG = re.compile(rb"[!#$&'*,-.0-9:;<=>?@A-Z\[^_`a-z|~]+")
"""A tag: ASTRING-CHARs but no '+' (and no ']', which this simplification also leaves out)."""

_ATOM_END = b' (){"\\\x7f' + bytes(range(32))


class CommandError(ValueError):
    """A command that cannot be parsed; its message goes into the BAD reply."""


class RefusedError(Exception):
    """A command that is understood but refused: answered ``NO`` with this text."""


class Atom(str):
    """An IMAP atom (as opposed to a string, which arrives as bytes)."""

    __slots__ = ()


Value = Atom | bytes | list["Value"]


@dataclass(frozen=True, slots=True)
class Command:
    """A parsed command: tag, upper-cased name, and arguments."""

    tag: str
    name: str
    args: list[Value]


def parse_command(text: bytes, literals: list[bytes]) -> Command:
    """Parse a command's joined lines (``{n}`` markers in place) and its literals."""
    tag_match = _TAG.match(text)
    if not tag_match:
        raise CommandError("missing or invalid tag")
    tag = tag_match.group().decode("ascii")
    rest = text[tag_match.end() :]
    if not rest.startswith(b" "):
        raise CommandError("missing command")
    tokens = _Tokenizer(rest[1:], literals).values()
    if not tokens or not isinstance(tokens[0], Atom):
        raise CommandError("missing command")
    name = tokens[0].upper()
    args = tokens[1:]
    if name == "UID":
        if not args or not isinstance(args[0], Atom):
            raise CommandError("UID needs a command")
        name = "UID " + args[0].upper()
        args = args[1:]
    return Command(tag, name, args)


class _Tokenizer:
    """Read values from a command's text, taking literals from a queue as ``{n}`` is met."""

    def __init__(self, text: bytes, literals: list[bytes]) -> None:
        self.text = text
        self.pos = 0
        self.literals = list(literals)
        self.count = 0

    def values(self, depth: int = 0, closing: bytes | None = None) -> list[Value]:  # noqa: C901
        out: list[Value] = []
        text = self.text
        while True:
            if self.pos >= len(text):
                if closing is not None:
                    raise CommandError("unbalanced parentheses")
                return out
            char = text[self.pos : self.pos + 1]
            if char == b" ":
                self.pos += 1
                continue
            if closing is not None and char == closing:
                self.pos += 1
                return out
            self.count += 1
            if self.count > MAX_TOKENS:
                raise CommandError("too many arguments")
            if char == b"(":
                if depth >= MAX_NESTING:
                    raise CommandError("lists nested too deeply")
                self.pos += 1
                out.append(self.values(depth + 1, b")"))
            elif char == b'"':
                out.append(self._quoted())
            elif char == b"{":
                out.append(self._literal())
            elif char == b")":
                raise CommandError("unbalanced parentheses")
            else:
                out.append(self._atom())

    def _quoted(self) -> bytes:
        text = self.text
        self.pos += 1
        chunks = bytearray()
        while self.pos < len(text):
            char = text[self.pos]
            if char == 0x22:  # closing quote
                self.pos += 1
                return bytes(chunks)
            if char == 0x5C:  # backslash escapes only " and \
                nxt = text[self.pos + 1 : self.pos + 2]
                if nxt not in (b'"', b"\\"):
                    raise CommandError("bad escape in quoted string")
                chunks += nxt
                self.pos += 2
                continue
            chunks.append(char)
            self.pos += 1
        raise CommandError("unterminated quoted string")

    def _literal(self) -> bytes:
        match = re.compile(rb"\{(\d{1,10})\+?\}").match(self.text, self.pos)
        if not match or (match.end() != len(self.text) and not self.literals):
            raise CommandError("bad literal")
        if not self.literals:
            raise CommandError("literal missing")
        data = self.literals.pop(0)
        if len(data) != int(match.group(1)):
            raise CommandError("literal size mismatch")
        self.pos = match.end()
        return data

    def _atom(self) -> Atom:
        text = self.text
        start = self.pos
        if text[start : start + 1] == b"\\":  # a flag: \Seen, \*
            self.pos += 1
            if text[self.pos : self.pos + 1] == b"*":
                self.pos += 1
        while self.pos < len(text):
            char = text[self.pos : self.pos + 1]
            if char == b"[":
                self._section()
                continue
            if char in _ATOM_END or char == b"]":
                break
            self.pos += 1
        if self.pos == start or text[start : self.pos] == b"\\":
            raise CommandError(f"unexpected {text[start : start + 1]!r}")
        try:
            return Atom(text[start : self.pos].decode("ascii"))
        except UnicodeDecodeError:
            raise CommandError("8-bit characters in an atom") from None

    def _section(self) -> None:
        """Skip over ``[...]`` (which may hold spaces, lists and strings) inside an atom."""
        text = self.text
        depth = 0
        while self.pos < len(text):
            char = text[self.pos : self.pos + 1]
            self.pos += 1
            if char == b"[":
                depth += 1
            elif char == b"]":
                depth -= 1
                if depth == 0:
                    return
            elif char in b"\r\n\0":
                break
        raise CommandError("unterminated section")


SequenceSet = list[tuple[int, int | None]]
"""Ranges (low, high); None stands for ``*``, the largest number in use."""


def parse_sequence_set(value: Value) -> SequenceSet:
    """Parse ``1:3,5,7:*`` (also ``$`` is not supported) into ranges."""
    if not isinstance(value, Atom) or not value:
        raise CommandError("expected a sequence set")
    ranges: SequenceSet = []
    for item in value.split(","):
        low_text, colon, high_text = item.partition(":")
        low = _seq_number(low_text)
        high = _seq_number(high_text) if colon else low
        ranges.append((low or 0, high))
        if len(ranges) > 10_000:
            raise CommandError("sequence set too long")
    return ranges


def _seq_number(text: str) -> int | None:
    if text == "*":
        return None
    if not text.isdigit() or text.startswith("0") or len(text) > 10:
        raise CommandError(f"bad sequence number {text!r}")
    number = int(text)
    if number > 0xFFFFFFFF:
        raise CommandError(f"bad sequence number {text!r}")
    return number


def resolve(ranges: SequenceSet, largest: int) -> list[tuple[int, int]]:
    """Return the ranges with ``*`` replaced and each (low, high) ordered."""
    out = []
    for low, high in ranges:
        lo = largest if low == 0 else low
        hi = largest if high is None else high
        out.append((min(lo, hi), max(lo, hi)))
    return out


def astring(value: Value) -> str:
    """Return an atom or string argument as text (UTF-8)."""
    if isinstance(value, Atom):
        return str(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    raise CommandError("expected a string")
