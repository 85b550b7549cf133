"""Compile a search :class:`~mailsink.search.Query` into a Python predicate.

The memory store filters with it; the SQLite store compiles the same query to
SQL instead (``sqlite/query.py``), and the contract suite checks that both
agree.
"""

from __future__ import annotations

from collections.abc import Callable

from mailsink.headers import header_block, header_matches
from mailsink.message import Address
from mailsink.search import Query, Term
from mailsink.store.base import StoredMessage

RawGetter = Callable[[str], bytes | None]
Predicate = Callable[[StoredMessage], bool]


def address_text(addresses: tuple[Address, ...]) -> str:
    """Return addresses as one lowercased ``Name <address>, ...`` string."""
    return ", ".join(str(a) for a in addresses).lower()


def address_list(message: StoredMessage, field: str) -> tuple[Address, ...]:
    """Return the addresses a field filter looks at (``addressed`` means all)."""
    s = message.summary
    sender = (s.from_,) if s.from_ else ()
    by_field = {
        "to": s.to,
        "cc": s.cc,
        "bcc": s.bcc,
        "from": sender,
        "reply-to": s.reply_to,
    }
    if field == "addressed":
        return s.to + s.cc + s.bcc + sender + s.reply_to
    return by_field[field]


def search_text(message: StoredMessage) -> str:
    """Return the lowercased text free words are looked for in."""
    s = message.summary
    # Short fields first: the SQLite store indexes the head of this text.
    parts = [s.subject, message.envelope.mail_from, s.message_id]
    parts.extend(str(a) for a in address_list(message, "addressed"))
    parts.append(s.text)
    return "\n".join(parts).lower()


def compile_query(query: Query | None, raw: RawGetter) -> Predicate:
    """Return a predicate that tells whether a stored message matches the query.

    Free text is looked for in ``summary.text`` (the text body), so stores
    must fill it in the records they test; ``raw`` serves header searches.
    """
    if query is None or query.is_empty():
        return lambda _message: True
    checks = [_compile_term(term, raw) for term in query.terms]
    return lambda message: all(check(message) for check in checks)


def _compile_term(term: Term, raw: RawGetter) -> Predicate:
    """Return the predicate of one term, negated when the term says so."""
    check = _positive(term, raw)
    if term.negate:
        return lambda message: not check(message)
    return check


def _positive(term: Term, raw: RawGetter) -> Predicate:  # noqa: C901, PLR0911 - one branch per field
    """Return the un-negated predicate of one term."""
    field, value = term.field, term.value
    if field == "text":
        return lambda m: value in search_text(m)
    if field in ("to", "from", "cc", "bcc", "reply-to", "addressed"):
        if term.exact:
            return lambda m: any(a.address.lower() == value for a in address_list(m, field))
        # Each header on its own (as SQLite does), so a value cannot span two headers.
        fields = ("to", "cc", "bcc", "from", "reply-to") if field == "addressed" else (field,)
        return lambda m: any(value in address_text(address_list(m, f)) for f in fields)
    if field == "subject":
        return lambda m: value in m.summary.subject.lower()
    if field == "message-id":
        return lambda m: value in m.summary.message_id.lower()
    if field == "tag":
        return lambda m: any(t.lower() == value for t in m.tags)
    if field == "is":
        if value == "read":
            return lambda m: m.read
        if value == "unread":
            return lambda m: not m.read
        return lambda m: bool(m.tags)
    if field == "has":
        if value == "attachment":
            return lambda m: m.summary.attachments > 0
        return lambda m: m.summary.inline > 0
    number = term.number or 0.0
    if field == "larger":
        return lambda m: m.summary.size > number
    if field == "smaller":
        return lambda m: m.summary.size < number
    if field == "after":
        return lambda m: m.received >= number
    if field == "before":
        return lambda m: m.received < number
    if field == "header":
        return _header_predicate(term.header or "", value, raw)
    raise ValueError(f"unknown search field {field!r}")


def _header_predicate(name: str, value: str, raw: RawGetter) -> Predicate:
    """Return a predicate on a header's presence or value, read from raw bytes."""

    def check(message: StoredMessage) -> bool:
        data = raw(message.id)
        return data is not None and header_matches(header_block(data), name, value)

    return check
