"""Compile a search :class:`~mailsink.search.Query` into a parameterised SQL condition.

The condition is written against the ``messages`` table of ``store.py``; the
``s_*`` columns hold lowercased copies made for searching, and free text goes
through the FTS5 word index of ``text_index.py`` (attached as ``idx``; how a
term is looked up there: ``words.py``).  ``text_has`` is a SQL function of the
store that reads a message's search text from its blob segment.
"""

from __future__ import annotations

import sqlite3

from mailsink.headers import is_utf8
from mailsink.search import Query, Term
from mailsink.store.base import RANGE_COLUMNS
from mailsink.store.sqlite import words

SEP = "\x1f"
"""Separator around each element of the ``s_*_addrs`` and ``s_tags`` columns."""

_ADDRESS_COLUMNS = {
    "to": ("s_to", "s_to_addrs"),
    "from": ("s_from", "s_from_addrs"),
    "cc": ("s_cc", "s_cc_addrs"),
    "bcc": ("s_bcc", "s_bcc_addrs"),
    "reply-to": ("s_reply_to", "s_reply_to_addrs"),
}


TEXT_HAS = "text_has(segment, raw_offset, raw_size, text_size, packed, ?)"
"""True when the message's search text contains the (UTF-8) parameter."""


def compile_where(
    query: Query | None, index: sqlite3.Connection | None = None
) -> tuple[str, list[object]]:
    """Return an SQL condition and its parameters; '1' when the query is empty.

    ``index`` is a connection with the text index attached, which the
    compiler asks how common a term's words are; without it free text is
    found by scanning every message's text.  The condition reads the words
    of each term itself, in the search's snapshot (``words.py``).
    """
    if query is None or query.is_empty():
        return "1", []
    clauses: list[str] = []
    params: list[object] = []
    for term in query.terms:
        clause, term_params = _term(term, index)
        clauses.append(f"NOT ({clause})" if term.negate else f"({clause})")
        params.extend(term_params)
    return " AND ".join(clauses), params


def _term(term: Term, index: sqlite3.Connection | None) -> tuple[str, list[object]]:  # noqa: PLR0911 - one branch per field
    """Return the un-negated condition of one term."""
    field, value = term.field, term.value
    if field == "text":
        return _text(value, index)
    if field in _ADDRESS_COLUMNS or field == "addressed":
        return _address(field, value, term.exact, index)
    if field == "subject":
        return _narrowed(value, index, "instr(s_subject, ?) > 0", [value])
    if field == "message-id":
        return _narrowed(value, index, "instr(s_message_id, ?) > 0", [value])
    if field == "tag":
        # "tags != ''" lets SQLite walk the partial index of tagged messages only.
        return "tags != '' AND instr(s_tags, ?) > 0", [f"{SEP}{value}{SEP}"]
    if field == "is":
        return {"read": "read = 1", "unread": "read = 0", "tagged": "tags != ''"}[value], []
    if field == "has":
        return ("attachments > 0" if value == "attachment" else "inline_parts > 0"), []
    if field in RANGE_COLUMNS:
        column, op = RANGE_COLUMNS[field]
        return f"{column} {op} ?", [term.number or 0]
    if field == "header":
        name = term.header or ""
        # instr() on the lowercased block skips, in C, the rows without the name.
        return "instr(lower(s_headers), ?) > 0 AND header_match(s_headers, ?, ?)", [
            name,
            name,
            value,
        ]
    raise ValueError(f"unknown search field {field!r}")


def _text(value: str, index: sqlite3.Connection | None) -> tuple[str, list[object]]:
    """Match free text by substring: through the word index where it can, a scan elsewhere.

    The index holds the words of the head of each message's text
    (``FTS_HEAD``) for the messages up to its ``upto`` mark.  Two sets are
    scanned besides: the messages not indexed yet and the long ones (their
    whole text, which keeps terms past or straddling the head right).  A
    term of one run of word characters that few vocabulary words contain is
    answered by the index alone (:data:`EXACT`); other terms take the index's
    candidates and check each against its text; a term with no run the index
    can look up (no whole word, no piece of three characters) scans every text.
    """
    needle = value.encode("utf-8", "surrogatepass")
    found = None if index is None or not is_utf8(value) else words.rows_of(index, value)
    if found is None:
        return TEXT_HAS, [needle]
    if found.exact:
        return EXACT.format(rows=found.select), [*found.params, needle, needle]
    return f"{CANDIDATES.format(rows=found.select)} AND {TEXT_HAS}", [*found.params, needle]


EXACT = (
    "seq IN ({rows} "
    f"UNION ALL SELECT seq FROM messages WHERE text_long = 1 AND {TEXT_HAS} "
    f"UNION ALL SELECT seq FROM messages WHERE seq > (SELECT upto FROM idx.state) AND {TEXT_HAS})"
)
"""The messages holding a term of one run of word characters: those whose indexed head has
a word containing it (``{rows}``: ``words.rows_of``), the long ones whose text has it and
those not indexed yet whose text has it.  No indexed head is read: at a million messages the
common word's check of 47,620 texts was 668 ms of zlib alone."""

CANDIDATES = (
    "seq IN ({rows} "
    "UNION ALL SELECT seq FROM messages WHERE text_long = 1 "
    "UNION ALL SELECT seq FROM messages WHERE seq > (SELECT upto FROM idx.state))"
)
"""The messages that may hold a term in their search text: those whose indexed head has
words that fit the runs asked for (``{rows}``: ``words.rows_of``), the long ones and
those not indexed yet.

One ``IN`` over a union, so that SQLite looks the candidates up by seq; the same
three sets ORed were a scan of every row (20,000 messages: ``subject:`` with no
hit 17 -> 1.6 ms, ``to:`` 9.5 -> 3.2 ms)."""


def _narrowed(
    value: str,
    index: sqlite3.Connection | None,
    clause: str,
    params: list[object],
    joiner: str = "\n",
) -> tuple[str, list[object]]:
    """Narrow a column test by the word index when ``value`` must be in the search text.

    Subject, Message-ID and addresses are lines of every message's search
    text (``match.search_text``), so a value that cannot span two of its
    parts (no ``joiner``) is only in messages the index finds, the long ones
    (past the indexed head) and the ones not indexed yet: a superset the
    column test then decides, in C.  Without it, ``subject:`` with no hit
    read every row: 1,435 ms at a million.
    """
    if index is None or joiner in value or "\n" in value or not is_utf8(value):
        return clause, params
    found = words.rows_of(index, value)
    if found is None:
        return clause, params
    return f"{CANDIDATES.format(rows=found.select)} AND ({clause})", [*found.params, *params]


def _address(
    field: str, value: str, exact: bool, index: sqlite3.Connection | None
) -> tuple[str, list[object]]:
    """Match an address filter by substring, or by whole address when exact."""
    fields = list(_ADDRESS_COLUMNS) if field == "addressed" else [field]
    column = 1 if exact else 0
    needle = f"{SEP}{value}{SEP}" if exact else value
    clause = " OR ".join(f"instr({_ADDRESS_COLUMNS[f][column]}, ?) > 0" for f in fields)
    # A value with a comma could span two addresses of one header: not narrowed so.
    return _narrowed(value, index, clause, [needle] * len(fields), joiner=",")
