"""SEARCH: compile the search keys of RFC 3501 6.4.4 into a predicate over messages.

Text keys (FROM, SUBJECT, BODY, TEXT, HEADER ...) match case-insensitively as
substrings of the decoded header values or text, as most servers do.  Dates
compare calendar days in UTC: INTERNALDATE (when the sink received the
message) for BEFORE/ON/SINCE, the Date header for SENT*.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from mailsink.headers import header_block, header_values
from mailsink.imap.parser import Atom, CommandError, SequenceSet, Value, astring, parse_sequence_set
from mailsink.imap.parts import head_end
from mailsink.store.base import StoredMessage
from mailsink.store.match import address_text


@dataclass
class Candidate:
    """One message as SEARCH sees it: numbers, record, flags, and its bytes when needed."""

    sequence: int
    uid: int
    message: StoredMessage
    flags: set[str]
    load_raw: Callable[[], bytes | None]
    _raw: bytes | None = field(default=None, repr=False)
    _block: str | None = field(default=None, repr=False)

    @property
    def raw(self) -> bytes:
        if self._raw is None:
            self._raw = self.load_raw() or b""
        return self._raw

    def header(self, name: str) -> list[str]:
        """Return the decoded values of a header, lowercased."""
        if self._block is None:
            self._block = header_block(self.raw)
        return [v.lower() for v in header_values(self._block, name)]


Predicate = Callable[[Candidate], bool]

_MONTHS = {
    m: i
    for i, m in enumerate(
        ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"], 1
    )
}
_DATE = re.compile(r"(\d{1,2})-([A-Za-z]{3})-(\d{4})")
_FLAG_KEYS = {
    "SEEN": ("\\Seen", True),
    "UNSEEN": ("\\Seen", False),
    "FLAGGED": ("\\Flagged", True),
    "UNFLAGGED": ("\\Flagged", False),
    "DELETED": ("\\Deleted", True),
    "UNDELETED": ("\\Deleted", False),
    "ANSWERED": ("\\Answered", True),
    "UNANSWERED": ("\\Answered", False),
    "DRAFT": ("\\Draft", True),
    "UNDRAFT": ("\\Draft", False),
}
_ADDRESS_KEYS = {"FROM": "from", "TO": "to", "CC": "cc", "BCC": "bcc"}


def compile_search(args: list[Value], largest_seq: int, largest_uid: int) -> Predicate:
    """Return the predicate of a SEARCH command's keys (after any CHARSET)."""
    if args and isinstance(args[0], Atom) and args[0].upper() == "CHARSET":
        if len(args) < 2 or astring(args[1]).upper() not in ("UTF-8", "US-ASCII"):
            raise CharsetError
        args = args[2:]
    if not args:
        raise CommandError("SEARCH needs at least one key")
    keys = _Keys(args, largest_seq, largest_uid)
    predicates = []
    while not keys.done:
        predicates.append(keys.key())
    return lambda c: all(p(c) for p in predicates)


class CharsetError(CommandError):
    """A CHARSET other than UTF-8 or US-ASCII (answered NO [BADCHARSET])."""


class _Keys:
    def __init__(self, args: list[Value], largest_seq: int, largest_uid: int) -> None:
        self.args = args
        self.pos = 0
        self.largest_seq = largest_seq
        self.largest_uid = largest_uid

    @property
    def done(self) -> bool:
        return self.pos >= len(self.args)

    def _next(self) -> Value:
        if self.done:
            raise CommandError("a search key is missing its argument")
        value = self.args[self.pos]
        self.pos += 1
        return value

    def _text(self) -> str:
        return astring(self._next()).lower()

    def key(self, depth: int = 0) -> Predicate:  # noqa: C901, PLR0911 - one branch per key
        if depth > 32:
            raise CommandError("search keys nested too deeply")
        value = self._next()
        if isinstance(value, list):
            inner = _Keys(value, self.largest_seq, self.largest_uid)
            if inner.done:
                raise CommandError("empty search list")
            parts = []
            while not inner.done:
                parts.append(inner.key(depth + 1))
            return lambda c: all(p(c) for p in parts)
        if not isinstance(value, Atom):
            raise CommandError("expected a search key")
        name = value.upper()
        if name == "ALL":
            return lambda c: True
        if name in _FLAG_KEYS:
            flag, wanted = _FLAG_KEYS[name]
            return lambda c: (flag in c.flags) == wanted
        if name in ("NEW", "RECENT"):
            return lambda c: False  # no message is \Recent
        if name == "OLD":
            return lambda c: True
        if name == "NOT":
            inner_key = self.key(depth + 1)
            return lambda c: not inner_key(c)
        if name == "OR":
            left = self.key(depth + 1)
            right = self.key(depth + 1)
            return lambda c: left(c) or right(c)
        if name in _ADDRESS_KEYS:
            return _address(_ADDRESS_KEYS[name], self._text())
        if name == "SUBJECT":
            text = self._text()
            return lambda c: any(text in v for v in c.header("subject"))
        if name == "HEADER":
            header, text = self._text(), self._text()
            return lambda c: any(text in v for v in c.header(header))
        if name == "BODY":
            text = self._text()
            return lambda c: _in_body(c, text)
        if name == "TEXT":
            text = self._text()
            return lambda c: _in_body(c, text) or text in header_block(c.raw).lower()
        if name in ("KEYWORD", "UNKEYWORD"):
            keyword = self._text()
            present = name == "KEYWORD"
            return lambda c: (keyword in {f.lower() for f in c.flags}) == present
        if name in ("LARGER", "SMALLER"):
            number = _number(self._next())
            if name == "LARGER":
                return lambda c: c.message.summary.size > number
            return lambda c: c.message.summary.size < number
        if name in ("BEFORE", "ON", "SINCE"):
            return _date_key(name, _date(self._next()), lambda c: c.message.received)
        if name in ("SENTBEFORE", "SENTON", "SENTSINCE"):
            return _date_key(name[4:], _date(self._next()), lambda c: c.message.summary.date)
        if name == "UID":
            return _in_set(parse_sequence_set(self._next()), self.largest_uid, lambda c: c.uid)
        if name[:1].isdigit() or name[:1] == "*":
            return _in_set(parse_sequence_set(value), self.largest_seq, lambda c: c.sequence)
        raise CommandError(f"unknown search key {name[:30]!r}")


def _address(field_name: str, text: str) -> Predicate:
    def check(c: Candidate) -> bool:
        if any(text in v for v in c.header(field_name)):
            return True
        summary = c.message.summary
        if field_name == "bcc":
            return text in address_text(summary.bcc)
        return False

    return check


def _in_body(c: Candidate, text: str) -> bool:
    if text in c.message.summary.text.lower():
        return True
    raw = c.raw
    return text.encode("utf-8", "replace") in raw[head_end(raw) :].lower()


def _number(value: Value) -> int:
    if not isinstance(value, Atom) or not value.isdigit() or len(value) > 20:
        raise CommandError("expected a number")
    return int(value)


def _date(value: Value) -> datetime.date:
    text = astring(value)
    match = _DATE.fullmatch(text)
    month = _MONTHS.get(match.group(2).lower(), 0) if match else 0
    if not match or not month:
        raise CommandError(f"bad date {text[:20]!r} (expected e.g. 1-Feb-2024)")
    try:
        return datetime.date(int(match.group(3)), month, int(match.group(1)))
    except ValueError:
        raise CommandError(f"bad date {text[:20]!r}") from None


def _date_key(
    name: str, day: datetime.date, when: Callable[[Candidate], float | None]
) -> Predicate:
    def check(c: Candidate) -> bool:
        stamp = when(c)
        if stamp is None:
            return False
        got = datetime.datetime.fromtimestamp(stamp, datetime.timezone.utc).date()
        if name == "BEFORE":
            return got < day
        if name == "ON":
            return got == day
        return got >= day

    return check


def _in_set(ranges: SequenceSet, largest: int, number: Callable[[Candidate], int]) -> Predicate:
    resolved = []
    for low, high in ranges:
        lo = largest if low == 0 else low
        hi = largest if high is None else high
        resolved.append((min(lo, hi), max(lo, hi)))
    return lambda c: any(lo <= number(c) <= hi for lo, hi in resolved)
