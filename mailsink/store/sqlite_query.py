"""Compile a search :class:`~mailsink.search.Query` into a parameterised SQL condition.

The condition is written against the ``messages`` table of ``sqlite.py``; the
``s_*`` columns hold lowercased copies made for searching, and free text goes
through the FTS5 trigram index so that substring matches stay fast.
"""

from __future__ import annotations

from mailsink.search import Query, Term

FTS_HEAD = 4096
"""Characters of each message's search text put in the trigram index.

Trigram indexing costs about 0.15 ms per KB of text, so a 100 KB newsletter
would cost more to index than to receive.  The text beyond the head (from
``FTS_TAIL_FROM``, overlapping the head by ``FTS_OVERLAP`` characters) goes to
the ``long_text`` table and is searched with ``instr``: only long messages pay
the scan.  A term longer than the overlap could straddle the two, so such
(rare) terms are matched against the whole text put back together; no match
is missed.
"""
FTS_OVERLAP = 512
FTS_TAIL_FROM = FTS_HEAD - FTS_OVERLAP

SEP = "\x1f"
"""Separator around each element of the ``s_*_addrs`` and ``s_tags`` columns."""

_ADDRESS_COLUMNS = {
    "to": ("s_to", "s_to_addrs"),
    "from": ("s_from", "s_from_addrs"),
    "cc": ("s_cc", "s_cc_addrs"),
    "bcc": ("s_bcc", "s_bcc_addrs"),
    "reply-to": ("s_reply_to", "s_reply_to_addrs"),
}


def compile_where(query: Query | None) -> tuple[str, list[object]]:
    """Return an SQL condition and its parameters; '1' when the query is empty."""
    if query is None or query.is_empty():
        return "1", []
    clauses: list[str] = []
    params: list[object] = []
    for term in query.terms:
        clause, term_params = _term(term)
        clauses.append(f"NOT ({clause})" if term.negate else f"({clause})")
        params.extend(term_params)
    return " AND ".join(clauses), params


def _term(term: Term) -> tuple[str, list[object]]:  # noqa: PLR0911 - one branch per field
    """Return the un-negated condition of one term."""
    field, value = term.field, term.value
    if field == "text":
        return _text(value)
    if field in _ADDRESS_COLUMNS or field == "addressed":
        return _address(field, value, term.exact)
    if field == "subject":
        return "instr(s_subject, ?) > 0", [value]
    if field == "message-id":
        return "instr(s_message_id, ?) > 0", [value]
    if field == "tag":
        # "tags != ''" lets SQLite walk the partial index of tagged messages only.
        return "tags != '' AND instr(s_tags, ?) > 0", [f"{SEP}{value}{SEP}"]
    if field == "is":
        return {"read": "read = 1", "unread": "read = 0", "tagged": "tags != ''"}[value], []
    if field == "has":
        return ("attachments > 0" if value == "attachment" else "inline_parts > 0"), []
    if field in ("larger", "smaller", "after", "before"):
        column, op = {
            "larger": ("size", ">"),
            "smaller": ("size", "<"),
            "after": ("received", ">="),
            "before": ("received", "<"),
        }[field]
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


def _text(value: str) -> tuple[str, list[object]]:
    """Match free text by substring: the trigram index for 3+ characters, a scan below.

    The index holds the head of each message's text; the rest of long messages
    is in ``long_text`` (see ``sqlite.FTS_HEAD``) and scanned.
    """
    if len(value) > FTS_OVERLAP:
        whole = (
            "seq IN (SELECT fts.rowid FROM fts LEFT JOIN long_text ON long_text.seq = fts.rowid "
            "WHERE instr(CASE WHEN long_text.body IS NULL THEN fts.body "
            "ELSE substr(fts.body, 1, ?) || long_text.body END, ?) > 0)"
        )
        return whole, [FTS_TAIL_FROM, value]
    tail = "seq IN (SELECT seq FROM long_text WHERE instr(body, ?) > 0)"
    if len(value) >= 3:
        phrase = '"' + value.replace('"', '""') + '"'
        return f"seq IN (SELECT rowid FROM fts WHERE fts MATCH ?) OR {tail}", [phrase, value]
    return f"seq IN (SELECT rowid FROM fts WHERE instr(body, ?) > 0) OR {tail}", [value, value]


def _address(field: str, value: str, exact: bool) -> tuple[str, list[object]]:
    """Match an address filter by substring, or by whole address when exact."""
    fields = list(_ADDRESS_COLUMNS) if field == "addressed" else [field]
    index = 1 if exact else 0
    needle = f"{SEP}{value}{SEP}" if exact else value
    clause = " OR ".join(f"instr({_ADDRESS_COLUMNS[f][index]}, ?) > 0" for f in fields)
    params: list[object] = [needle] * len(fields)
    if 3 <= len(value) <= FTS_OVERLAP and "," not in value:
        # Every address is also in the indexed search text, so the trigram index
        # narrows the rows first (a superset); the column test then decides.
        # A value with a comma could span two addresses of one header: not indexed so.
        prefilter, prefilter_params = _text(value)
        return f"({prefilter}) AND ({clause})", [*prefilter_params, *params]
    return clause, params
