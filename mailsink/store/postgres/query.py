"""Compile a search :class:`~mailsink.search.Query` into a PostgreSQL condition.

The condition is written against ``mailsink_messages`` (``schema.py``) with
``%s`` placeholders.  Free text uses the trigram index (``LIKE '%term%'``
with ``pg_trgm``) where there is one, and so do address, subject and
Message-ID filters (those are in the search text too) before their own
columns decide; tags and times have indexes of their own.  Header terms
are the one thing SQL cannot decide exactly (values are decoded at search
time, :func:`mailsink.headers.header_matches`):
SQL narrows the rows and :class:`Where` keeps the header terms for the store
to check in Python.  The contract suite checks that every term answers as the
memory store's predicates do.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from mailsink.headers import header_matches
from mailsink.search import Query, Term
from mailsink.store.base import RANGE_COLUMNS
from mailsink.store.postgres.schema import TEXT_HEAD

_ADDRESS_COLUMNS = {
    "to": ("s_to", "s_to_addrs"),
    "from": ("s_from", "s_from_addrs"),
    "cc": ("s_cc", "s_cc_addrs"),
    "bcc": ("s_bcc", "s_bcc_addrs"),
    "reply-to": ("s_reply_to", "s_reply_to_addrs"),
}


Vocab = Callable[[str], bool]
"""Whether few enough indexed words are ``LIKE`` a pattern for the word index to use it."""

WORD_TERM = re.compile(r"[a-z0-9]{3,32}")
"""Free text the word index answers exactly (``schema.py``, version 3): letters and
digits only, so each occurrence lies inside one word (or one 64-piece of a long one)."""


@dataclass
class Where:
    """An SQL condition, its parameters, and the header terms left for Python."""

    sql: str = "true"
    params: list[object] = field(default_factory=list)
    headers: list[Term] = field(default_factory=list)
    hits: str | None = None
    """When every term is free text the word index answers: the IDs of the matches
    from the text tables alone (no message row is read to count them)."""
    hits_params: list[object] = field(default_factory=list)

    def keeps(self, headers: str) -> bool:
        """Tell whether a message's header block passes the header terms."""
        for term in self.headers:
            found = header_matches(headers, term.header or "", term.value)
            if found == term.negate:
                return False
        return True


def compile_where(query: Query | None, trigram: bool = True, vocab: Vocab | None = None) -> Where:
    """Return the condition of a query; ``true`` when it is empty.

    ``vocab`` looks words up for the word index (without it, free text goes
    through the trigram index).
    """
    where = Where()
    if query is None or query.is_empty():
        return where
    clauses: list[str] = []
    hits: list[tuple[str, list[object]]] = []
    for term in query.terms:
        if term.field == "text" and not term.negate:
            found = _words(term.value, trigram, vocab)
            if found is not None:
                hits.append(found)
    if hits and len(hits) == len(query.terms):
        where.hits = " INTERSECT ".join(f"({ids})" for ids, _params in hits)
        where.hits_params = [p for _ids, params in hits for p in params]
    for term in query.terms:
        if term.field == "header":
            where.headers.append(term)
            if term.negate:
                continue  # only presence can be narrowed in SQL
            clauses.append("strpos(lower(s_headers), %s) > 0")
            where.params.append(term.header or "")
            continue
        clause, params = _term(term, trigram, vocab)
        clauses.append(f"NOT ({clause})" if term.negate else f"({clause})")
        where.params.extend(params)
    if clauses:
        where.sql = " AND ".join(clauses)
    return where


def _term(term: Term, trigram: bool, vocab: Vocab | None) -> tuple[str, list[object]]:  # noqa: PLR0911 - one branch per field
    """Return the un-negated condition of one term."""
    name, value = term.field, term.value
    if name == "text":
        return _text(value, trigram, vocab)
    if name in _ADDRESS_COLUMNS or name == "addressed":
        return _address(name, value, term.exact, trigram, vocab)
    if name == "subject":
        return _narrowed("strpos(s_subject, %s) > 0", value, trigram, vocab)
    if name == "message-id":
        return _narrowed("strpos(s_message_id, %s) > 0", value, trigram, vocab)
    if name == "tag":
        # The condition of the partial index of tagged messages, so that it is used.
        return "cardinality(tags) > 0 AND s_tags @> ARRAY[%s]::text[]", [value]
    if name == "is":
        return {"read": "read", "unread": "NOT read", "tagged": "cardinality(tags) > 0"}[value], []
    if name == "has":
        return ("attachments > 0" if value == "attachment" else "inline_parts > 0"), []
    if name in RANGE_COLUMNS:
        column, op = RANGE_COLUMNS[name]
        return f"{column} {op} %s", [float(term.number or 0)]
    raise ValueError(f"unknown search field {name!r}")


def like_pattern(value: str) -> str:
    """Return a LIKE pattern matching ``value`` anywhere (wildcards escaped)."""
    escaped = value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _words(value: str, trigram: bool, vocab: Vocab | None) -> tuple[str, list[object]] | None:
    """Return the IDs of the texts containing ``value`` through the word index, if it can answer.

    The texts containing a term of letters and digits are exactly those
    with a word (or piece) the term is a substring of.  Those words are
    found in ``mailsink_vocab`` by the same statement that reads the texts,
    so both are of one snapshot (a word the indexer adds meanwhile comes
    with its texts); ``vocab`` only says whether they are few enough.
    Only the head of a long text is indexed (schema version 5): long texts
    are checked whole instead, and texts not indexed yet are scanned.  The
    three sets are disjoint, so the IDs can be counted as they come.
    """
    if vocab is None or not trigram or not WORD_TERM.fullmatch(value):
        return None
    pattern = f"%{value}%"  # letters and digits: no LIKE wildcard to escape
    if not vocab(pattern):
        return None
    return _by_words(f"words @@ {_VOCAB_QUERY}", [pattern], value)


def _texts(indexed: str, whole: str, waiting: str) -> str:
    """Return the IDs of the texts passing a test: one for each table a text can be in.

    ``indexed`` tests ``mailsink_text`` (heads, under the indexes), ``whole``
    the long texts whole (``mailsink_long_text``, schema versions 5 and 7),
    ``waiting`` the texts not indexed yet (``mailsink_text_new``, heads too).
    """
    return (
        f"SELECT id FROM mailsink_text WHERE {indexed} "
        f"UNION ALL SELECT id FROM mailsink_long_text WHERE {whole} "
        f"UNION ALL SELECT id FROM mailsink_text_new WHERE {waiting}"
    )


_HAS = "strpos(search, %s) > 0"
"""A text holds the parameter."""


def _by_words(test: str, params: list[object], value: str) -> tuple[str, list[object]]:
    """Return the IDs of the texts a word-index ``test`` finds, long ones checked for ``value``.

    The word index holds heads only, so a long text is left to the check of
    its whole text; the three sets are then disjoint (the IDs can be counted
    as they come).
    """
    ids = _texts(f"{test} AND NOT long", _HAS, f"NOT long AND {_HAS}")
    return ids, [*params, value, value]


_HEAD = f"left(search, {TEXT_HEAD})"
"""The indexed expression of the trigram index: the head of each text."""


_VOCAB_QUERY = (
    "(SELECT string_agg(quote_literal(word), ' | ')::tsquery FROM mailsink_vocab "
    "WHERE word LIKE %s)"
)
"""The word index's query for the texts with a word ``LIKE`` a pattern (NULL, matching
nothing, when no indexed word is)."""

_RUN = re.compile(r"[a-z0-9]+")
"""A run of the characters words are made of (``schema.py``'s ``mailsink_words``)."""


def word_patterns(value: str) -> list[str]:
    """Return ``LIKE`` patterns of words that a text containing ``value`` must have, one a run.

    A text's words are its runs of letters and digits, so a run of
    ``value`` with other characters on both sides is a whole word of the
    text; with them on its left only, the start of one; on its right only,
    the end of one; with neither (``value`` is one run), anywhere inside
    one.  Runs the vocabulary's indexes cannot look up are left out
    (shorter than 3 unless whole, or longer than the pieces that words
    past 64 are kept as), so the texts with all the patterns' words are a
    superset of the texts containing ``value`` (exactly them when it is one
    run: :func:`_words`).
    """
    patterns = []
    for run in _RUN.finditer(value):
        word = run.group()
        left, right = run.start() > 0, run.end() < len(value)
        if left and right and len(word) <= 64:
            patterns.append(word)
        elif left and 3 <= len(word) <= 64:
            patterns.append(f"{word}%")
        elif right and 3 <= len(word) <= 64:
            patterns.append(f"%{word}")
        elif 3 <= len(word) <= 32:
            patterns.append(f"%{word}%")
    return patterns


def _narrowing_words(
    value: str, trigram: bool, vocab: Vocab | None
) -> tuple[str, list[object]] | None:
    """Return a word-index condition on ``mailsink_text`` true of every text containing ``value``.

    Of :func:`word_patterns`, those with few enough words (``vocab``); None
    when none is left.  A superset: the caller decides each row exactly.
    Its words are read in the statement that reads the texts (one snapshot,
    as in :func:`_words`).
    """
    if vocab is None or not trigram:
        return None
    patterns: list[object] = [p for p in word_patterns(value) if vocab(p)]
    if not patterns:
        return None
    return "words @@ (" + " && ".join([_VOCAB_QUERY] * len(patterns)) + ")", patterns


def _text(value: str, trigram: bool, vocab: Vocab | None = None) -> tuple[str, list[object]]:
    """Match free text by substring, in the indexed texts and the ones not indexed yet.

    Through the word index for letters and digits (:func:`_words`), else
    through the trigram index for three characters or more; shorter terms
    (and stores without ``pg_trgm``) scan.
    """
    found = _words(value, trigram, vocab)
    if found is not None:
        ids, params = found
        return f"id IN ({ids})", params
    if trigram and len(value) >= 3:
        # The index holds the heads: the long texts are also checked whole.
        pattern = like_pattern(value)
        like = "search LIKE %s"
        return f"id IN ({_texts(f'{_HEAD} LIKE %s', like, like)})", [pattern] * 3
    return f"id IN ({_texts(_HAS, _HAS, _HAS)})", [value] * 3


def _narrowed(
    clause: str, value: str, trigram: bool, vocab: Vocab | None
) -> tuple[str, list[object]]:
    """Narrow a substring test of one column by the trigram index, which then decides.

    The subject and the Message-ID are in the search text whole (lowercased
    alike), so the texts containing ``value`` are a superset of the rows that
    match: without this a ``subject:`` search read every row (880 ms for no
    hit at 250,000 messages).
    """
    if trigram and len(value) >= 3:
        prefilter, params = _prefilter(value, trigram, vocab)
        return f"{prefilter} AND {clause}", [*params, value]
    return clause, [value]


def _prefilter(value: str, trigram: bool, vocab: Vocab | None) -> tuple[str, list[object]]:
    """Return a condition true of every message whose search text contains ``value`` (a superset).

    The word index where it can narrow (:func:`_narrowing_words`): a term
    with other characters than letters and digits, such as an address, is
    found by the words it is made of, without rechecking any text (the
    caller's column test decides).  The trigram index rechecked the text of
    every candidate and, for ``to:user42@example.test``, intersected
    trigrams that every address of the domain has: 52 ms at 250,000
    messages.  Else through :func:`_text`.
    """
    narrowing = _narrowing_words(value, trigram, vocab)
    if narrowing is None:
        return _text(value, trigram, vocab)
    ids, params = _by_words(*narrowing, value)
    return f"id IN ({ids})", params


def _address(
    name: str, value: str, exact: bool, trigram: bool, vocab: Vocab | None
) -> tuple[str, list[object]]:
    """Match an address filter by substring, or by whole address when exact."""
    fields = list(_ADDRESS_COLUMNS) if name == "addressed" else [name]
    if exact:
        clause = " OR ".join(f"{_ADDRESS_COLUMNS[f][1]} @> ARRAY[%s]::text[]" for f in fields)
    else:
        clause = " OR ".join(f"strpos({_ADDRESS_COLUMNS[f][0]}, %s) > 0" for f in fields)
    params: list[object] = [value] * len(fields)
    if trigram and len(value) >= 3 and "," not in value:
        # Every address is also in the search text, so the trigram index
        # narrows the rows first (a superset); the column test then decides.
        # A value with a comma could span two addresses of one header: not so.
        prefilter, prefilter_params = _prefilter(value, trigram, vocab)
        return f"{prefilter} AND ({clause})", [*prefilter_params, *params]
    return clause, params
