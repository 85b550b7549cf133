"""Which of a searched value's trigrams a search asks the index for: the rare ones.

Why: the index finds the messages holding *every* trigram it is asked for,
and FTS5 reads the whole list of each (``detail=none`` lists have no skips
it uses).  A trigram in every message costs the same as reading the whole
index's worth of it: at 167,000 messages ``"use"`` alone took 12.6 ms and a
rare one 0.4 ms, so ``to:user42@example.test`` (17 trigrams, ten of them in
every message through ``app@sender.example.test`` and ``example.test``)
took 35 ms there, and grew with the mailbox (issue 19).

Any subset of the trigrams finds a superset of the messages holding the
value, and every search checks its candidates against the column or the
text anyway (``query.py``), so leaving trigrams out never changes a result;
it only lets in a few more candidates.  So before a search each trigram is
sampled: the first :data:`SAMPLE` messages holding it, by seq, say how dense
it is (``SAMPLE`` over the span of seqs they cover; fewer than ``SAMPLE``
means it is rare everywhere).  The search then asks for the rarest ones: those
within :data:`KEEP_WITHIN` times the rarest's density or under
:data:`RARE` outright, at most :data:`MAX_GRAMS`.  A sample is a short read of
each list's start: about 0.1-0.2 ms a trigram.
"""

from __future__ import annotations

import sqlite3

SAMPLE = 64
"""Messages read of each trigram's list to judge how common it is."""

RARE = 0.02
"""A trigram in under this share of messages is always asked for (it narrows well and is cheap)."""

KEEP_WITHIN = 2.0
"""Trigrams up to this many times as dense as the rarest one are asked for too."""

MAX_GRAMS = 6
"""At most this many trigrams a value: each more costs a list read and narrows less."""

MAX_SAMPLED = 24
"""Trigrams sampled at most (a long value): the rest are left out, a superset still."""


def grams_of(value: str) -> list[str]:
    """Return the distinct trigrams of a value (3+ characters), sorted."""
    return sorted({value[i : i + 3] for i in range(len(value) - 2)})


def match_of(grams: list[str]) -> str:
    """Return the FTS5 query of the rows holding every one of these trigrams."""
    return " AND ".join('"' + gram.replace('"', '""') + '"' for gram in grams)


def density(db: sqlite3.Connection, gram: str) -> float:
    """Return the estimated share of messages holding ``gram`` (from the start of its list)."""
    low, high, found = db.execute(
        "SELECT min(rowid), max(rowid), count(*) FROM "
        "(SELECT rowid FROM idx.fts WHERE fts MATCH ? LIMIT ?)",
        (match_of([gram]), SAMPLE),
    ).fetchone()
    count = int(found)
    if count < SAMPLE:
        return count / 1e9  # the whole list is this short: rare, and rarer the shorter
    return count / (int(high) - int(low) + 1)


def rare_grams(db: sqlite3.Connection, value: str) -> list[str]:
    """Return the trigrams of ``value`` to ask the index for (see the module docstring).

    Falls back to every trigram when the index cannot be read (the caller's
    search then fails over to the scan as before).
    """
    grams = grams_of(value)
    if len(grams) <= 1:
        return grams
    sampled = _spread(grams, MAX_SAMPLED)
    try:
        rated = sorted((density(db, gram), gram) for gram in sampled)
    except sqlite3.Error:
        return grams
    rarest = rated[0][0]
    chosen = [g for d, g in rated if d <= max(RARE, rarest * KEEP_WITHIN)][:MAX_GRAMS]
    return sorted(chosen)


def _spread(grams: list[str], most: int) -> list[str]:
    """Return at most ``most`` of the trigrams, spread over the list."""
    if len(grams) <= most:
        return grams
    step = len(grams) / most
    return [grams[int(n * step)] for n in range(most)]
