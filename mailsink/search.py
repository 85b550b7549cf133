"""Parse Mailpit's search language into a :class:`Query`, once, for stores to compile.

A query is a whitespace-separated list of terms that are all ANDed together.
Double quotes group text containing whitespace into one term and are removed;
an unterminated quote runs to the end of the query.

Terms:

* ``word`` or ``"a phrase"``: free text (a term that starts with a quote is
  always free text, so ``"is:read"`` searches for the literal words).
* ``to:`` ``from:`` ``cc:`` ``bcc:`` ``reply-to:`` ``addressed:``: substring
  of the ``Name <address>`` list of that header; ``addressed:`` means any of
  to/cc/bcc/from/reply-to.  With ``=`` (``to:=a@x.com``, a mailsink
  addition) only a whole address matches, case-insensitively.
* ``subject:`` and ``message-id:``: substring; ``tag:``: a tag name.
* ``is:read`` ``is:unread`` ``is:tagged``.
* ``has:attachment`` (or ``attachments``), ``has:inline`` (or ``inlines``).
* ``larger:SIZE`` and ``smaller:SIZE``: strictly larger / smaller than SIZE,
  which is a number with an optional unit B, K/KB, M/MB or G/GB
  (case-insensitive, 1024 multiples), e.g. ``larger:10K`` or ``smaller:1.5MB``.
* ``after:WHEN`` and ``before:WHEN``: WHEN is ``YYYY-MM-DD`` or an ISO
  datetime (``2024-01-31T10:00``, ``...:30Z``, ``...+01:00``).  Dates and
  datetimes without an offset are resolved in the time zone given to
  :func:`parse_query` (default UTC).  Like Mailpit, a bare date means the
  start of that day, so ``after:D`` includes day D and ``before:D`` excludes
  it: ``after:2024-01-01 before:2024-01-02`` is all of January 1st.
  ``Term.number`` holds the instant as a unix timestamp; compilers match
  ``received >= number`` for after and ``received < number`` for before.
* ``header:NAME`` (header present) and ``header:NAME=TEXT`` (a value of that
  header contains TEXT), a mailsink addition; quoting works around the whole
  (``header:"X-Campaign=spring sale"``) or the value
  (``header:X-Campaign="spring sale"``).

A leading ``-`` or ``!`` negates any term (``-from:bob``, ``!is:read``,
``-"a phrase"``).  Field names are case-insensitive and string values are
lowercased (compilers should compare against lowercased text).  An unknown
``word:`` prefix, such as ``foo:bar`` or ``http://x``, is free text.  As in
Mailpit, an address/subject/message-id/tag filter with an empty value and free
text without any letter or digit are ignored; bad sizes, dates, ``is:`` or
``has:`` values and empty header names raise :class:`SearchError`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo

__all__ = [
    "ADDRESS_FIELDS",
    "FIELDS",
    "MAX_QUERY_LENGTH",
    "MAX_TERMS",
    "Query",
    "SearchError",
    "Term",
    "parse_query",
]

MAX_QUERY_LENGTH = 4096
MAX_TERMS = 64

ADDRESS_FIELDS = frozenset({"to", "from", "cc", "bcc", "reply-to", "addressed"})
FIELDS = frozenset(
    {"text", "subject", "message-id", "tag", "is", "has", "larger", "smaller"}
    | {"before", "after", "header"}
    | ADDRESS_FIELDS
)

_IS_VALUES = {"read": "read", "unread": "unread", "tagged": "tagged"}
_HAS_VALUES = {
    "attachment": "attachment",
    "attachments": "attachment",
    "inline": "inline",
    "inlines": "inline",
}
_SIZE_UNITS = {
    "": 1,
    "b": 1,
    "k": 1024,
    "kb": 1024,
    "m": 1024**2,
    "mb": 1024**2,
    "g": 1024**3,
    "gb": 1024**3,
}

_PREFIX_RE = re.compile(r"([A-Za-z-]+):")
_SIZE_RE = re.compile(r"(\d+(?:\.\d+)?)([a-z]*)")
_DATE_RE = re.compile(r"(\d{4})-(\d{2})-(\d{2})")
_DATETIME_RE = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[tT ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,6}))?)?"
    r"(?:([zZ])|([+-])(\d{2}):?(\d{2}))?"
)
_HEADER_NAME_RE = re.compile(r"[!-9;-~]+")  # printable ASCII except ':'
_UTC = timezone(timedelta(0), "UTC")  # datetime.UTC needs Python 3.11


class SearchError(ValueError):
    """Report a search query that cannot be parsed, with a human message."""


@dataclass(frozen=True, slots=True)
class Term:
    """Hold one parsed search term; see the module docstring for fields."""

    field: str
    value: str
    negate: bool = False
    exact: bool = False
    number: float | None = None
    header: str | None = None


@dataclass(frozen=True, slots=True)
class Query:
    """Hold the ANDed terms of a parsed search query."""

    terms: tuple[Term, ...]

    def is_empty(self) -> bool:
        """Return True when the query has no terms and so matches everything."""
        return not self.terms


@dataclass(frozen=True, slots=True)
class _Token:
    """Hold one whitespace-separated token with its quotes removed."""

    text: str
    quote_at: int  # index of the first quoted character, len(text) if none


def parse_query(text: str, tz: str | None = None) -> Query:
    """Parse a search string into a Query, resolving dates in IANA zone tz."""
    if len(text) > MAX_QUERY_LENGTH:
        raise SearchError(
            f"search query is too long ({len(text)} characters, at most {MAX_QUERY_LENGTH})"
        )
    zone = _resolve_zone(tz)
    terms: list[Term] = []
    for token in _tokenize(text):
        term = _parse_token(token, zone)
        if term is None:
            continue
        if len(terms) >= MAX_TERMS:
            raise SearchError(f"search query has too many terms (at most {MAX_TERMS})")
        terms.append(term)
    return Query(tuple(terms))


def _resolve_zone(tz: str | None) -> tzinfo:
    """Return the tzinfo for an IANA zone name, UTC when tz is None or empty."""
    if not tz:
        return _UTC
    try:
        return ZoneInfo(tz)
    except (KeyError, ValueError, OSError):
        raise SearchError(f"unknown time zone {tz!r}") from None


def _tokenize(text: str) -> list[_Token]:
    """Split text on unquoted whitespace, dropping the quote characters."""
    tokens: list[_Token] = []
    chars: list[str] = []
    quote_at: int | None = None
    in_quote = started = False
    for ch in text:
        if ch == '"':
            in_quote, started = not in_quote, True
            if quote_at is None:
                quote_at = len(chars)
        elif ch.isspace() and not in_quote:
            if started:
                tokens.append(_make_token(chars, quote_at))
            chars, quote_at, started = [], None, False
        else:
            chars.append(ch)
            started = True
    if started:
        tokens.append(_make_token(chars, quote_at))
    return tokens


def _make_token(chars: list[str], quote_at: int | None) -> _Token:
    """Build a token from its characters and first-quote position."""
    return _Token("".join(chars), len(chars) if quote_at is None else quote_at)


def _parse_token(token: _Token, zone: tzinfo) -> Term | None:
    """Turn one token into a Term, or None when it is to be ignored."""
    body, quote_at, negate = token.text, token.quote_at, False
    if len(body) > 1 and quote_at > 0 and body[0] in "-!":
        body, quote_at, negate = body[1:], quote_at - 1, True
    match = _PREFIX_RE.match(body)
    if match is None or match.end() > quote_at:
        return _text_term(body, negate)
    field = match.group(1).lower()
    value = body[match.end() :]
    if field in ADDRESS_FIELDS:
        return _address_term(field, value, negate)
    if field in ("subject", "message-id", "tag"):
        return _string_term(field, value, negate)
    if field in _SIMPLE_PARSERS:
        return _SIMPLE_PARSERS[field](field, value, negate)
    if field in ("before", "after"):
        return _date_term(field, value, negate, zone)
    return _text_term(body, negate)


def _norm(value: str) -> str:
    """Return value stripped and lowercased for case-insensitive matching."""
    return value.strip().lower()


def _text_term(body: str, negate: bool) -> Term | None:
    """Build a free-text term, ignoring text without letters or digits."""
    value = _norm(body)
    if not any(ch.isalnum() for ch in value):
        return None
    return Term("text", value, negate)


def _address_term(field: str, value: str, negate: bool) -> Term | None:
    """Build an address term, exact when the value starts with '='."""
    exact = value.startswith("=")
    value = _norm(value[1:] if exact else value)
    if exact:
        value = value.removeprefix("<").removesuffix(">").strip()
    if not value:
        return None
    return Term(field, value, negate, exact=exact)


def _string_term(field: str, value: str, negate: bool) -> Term | None:
    """Build a subject, message-id or tag term, ignoring an empty value."""
    value = _norm(value)
    if field == "message-id":
        value = value.removeprefix("<").removesuffix(">").strip()
    return Term(field, value, negate) if value else None


def _choice_term(field: str, value: str, negate: bool) -> Term:
    """Build an is: or has: term from its fixed set of values."""
    choices = _IS_VALUES if field == "is" else _HAS_VALUES
    key = _norm(value)
    if key not in choices:
        allowed = ", ".join(sorted(set(choices.values())))
        raise SearchError(f"{field}:{value} is not valid; use {field}: with {allowed}")
    return Term(field, choices[key], negate)


def _size_term(field: str, value: str, negate: bool) -> Term:
    """Build a larger: or smaller: term with its size in bytes."""
    raw = _norm(value)
    match = _SIZE_RE.fullmatch(raw)
    if match is None or match.group(2) not in _SIZE_UNITS:
        raise SearchError(
            f"{field}:{value} is not a valid size; use e.g. {field}:500, {field}:10K or {field}:2MB"
        )
    number = float(match.group(1)) * _SIZE_UNITS[match.group(2)]
    return Term(field, raw, negate, number=number)


def _header_term(field: str, value: str, negate: bool) -> Term:
    """Build a header term from NAME (present) or NAME=TEXT (contains)."""
    name, _, wanted = value.partition("=")
    name = name.strip()
    if not name:
        raise SearchError(
            "header: needs a header name, e.g. header:X-Campaign or header:X-Campaign=spring"
        )
    if _HEADER_NAME_RE.fullmatch(name) is None:
        raise SearchError(f"{name!r} is not a valid header name")
    return Term(field, _norm(wanted), negate, header=name.lower())


_SIMPLE_PARSERS: dict[str, Callable[[str, str, bool], Term]] = {
    "is": _choice_term,
    "has": _choice_term,
    "larger": _size_term,
    "smaller": _size_term,
    "header": _header_term,
}


def _date_term(field: str, value: str, negate: bool, zone: tzinfo) -> Term:
    """Build a before: or after: term with its instant as a unix timestamp."""
    raw = value.strip()
    try:
        number = _parse_instant(raw, zone)
    except ValueError:
        raise SearchError(
            f"{field}:{value} is not a valid date; use YYYY-MM-DD "
            "or an ISO datetime such as 2024-01-31T10:00"
        ) from None
    return Term(field, raw.lower(), negate, number=number)


def _parse_instant(raw: str, zone: tzinfo) -> float:
    """Return the unix timestamp of a date (its start) or datetime in zone."""
    match = _DATE_RE.fullmatch(raw)
    if match is not None:
        y, m, d = (int(part) for part in match.groups())
        return datetime(y, m, d, tzinfo=zone).timestamp()
    match = _DATETIME_RE.fullmatch(raw)
    if match is None:
        raise ValueError(raw)
    year, month, day, hour, minute, second, fraction, utc, sign, oh, om = match.groups()
    stamp = datetime(
        int(year),
        int(month),
        int(day),
        int(hour),
        int(minute),
        int(second or 0),
        int((fraction or "").ljust(6, "0")),
        tzinfo=_offset_zone(utc, sign, oh, om) or zone,
    )
    return stamp.timestamp()


def _offset_zone(
    utc: str | None, sign: str | None, hours: str | None, minutes: str | None
) -> tzinfo | None:
    """Return the fixed zone of an explicit Z or +HH:MM offset, else None."""
    if utc:
        return _UTC
    if sign is None or hours is None or minutes is None:
        return None
    if int(minutes) >= 60:
        raise ValueError(minutes)
    delta = timedelta(hours=int(hours), minutes=int(minutes))
    return timezone(-delta if sign == "-" else delta)
