"""How a free-text term is found through the SQLite store's word index (``text_index.py``).

The index holds each message's indexed head split into words by FTS5's
``ascii`` tokenizer: a word is a run of ASCII letters and digits and of any
non-ASCII characters; every other ASCII character separates words.  The
search text is lowercased before it is indexed (``match.search_text``) and
so is every searched value (``search.py``), so :data:`WORD` splits a term by
exactly the tokenizer's rule and no folding is left to disagree about.  Beside
it the index keeps the vocabulary of every word it was given, with a
case-sensitive trigram index over the vocabulary, so a piece of a word finds
the words that contain it.

Why words rather than the trigrams of the whole text (index version 3): a
term that is one run of word characters lies, wherever it occurs in a head,
inside one word, so the messages holding it are exactly those holding one
of the vocabulary's words that contain it.  When few words do, that is the
answer without reading one text: the common word of issue 19 (47,620 hits
at a million messages) spent 668 of its 945 ms decompressing the texts of
trigram candidates to check them.  A term of several runs gives candidates
instead: a run between two separators must be a whole word, the first run
ends a word, the last one starts one; the texts then decide.  And words
cost far less to index than trigrams (``benchmarks/sqlite_scale.py``).

Each word set is read by the search's own statement (a subquery giving the
FTS5 query), so it comes from the same snapshot as the index rows it
selects: a word the index thread adds meanwhile comes with its messages.
"""

from __future__ import annotations

import re
import sqlite3
import string
from dataclasses import dataclass

from mailsink.store.ascii_words import separator_table, split_ascii

WORD = re.compile(r"[0-9A-Za-z\x80-\U0010ffff]+")
"""A word as FTS5's ``ascii`` tokenizer cuts one: ASCII letters and digits and every
non-ASCII character (its separators are the other ASCII characters)."""

JOINT = re.compile(r"([0-9a-z\x80-\U0010ffff])([!-/:-@\[-`{-~]+)(?=[0-9a-z\x80-\U0010ffff])")
"""Punctuation between two word characters (``a.b``, ``x@y``, ``1.5``), which no word holds.

The index also gets a token for each: a joint (:func:`joint`).  Without them a term such
as ``a.b`` (two runs too short to look up) scanned every text, where the trigram index of
version 3 found it in 0.2 ms.  Punctuation only: whitespace between words is everywhere,
and its joints would cost as much as the words.

:func:`_joints` finds the same matches faster than ``JOINT.finditer`` (which tries
a match at every letter): runs of punctuation first, then their neighbours."""

_PUNCTUATION = re.compile(r"[!-/:-@\[-`{-~]+")
"""A run of the punctuation of :data:`JOINT`."""

_WORD_CHARACTER = re.compile(r"[0-9a-z\x80-\U0010ffff]")
"""A word character of :data:`JOINT`."""

JOINT_MARK = "\u00c0"
"""The first character of every joint: an uppercase letter (À), which no lowercased search
text holds, so no joint is ever a word of a text (and the vocabulary has none)."""

MAX_WORDS = 64
"""At most this many vocabulary words are asked for as one FTS5 query (``w1 OR w2 ...``):
FTS5 steps every list of an OR for each row it returns, which grows as words times rows
(200,000 messages: 1,600 words of one row each, 43 ms)."""

MAX_JOINED = 20_000
"""More words than :data:`MAX_WORDS`, up to this many, are looked up one by one (a join of
the vocabulary with the index): about 19 us a word, 30 ms for those 1,600, where a scan of
every text took 3.8 s.  Past this a piece is not asked for."""

MIN_PIECE = 3
"""Ends and middles of words shorter than this are not looked up: the vocabulary's trigram
index cannot find them (a word's start is a range of the vocabulary, of any length)."""

SAMPLE = 64
"""Rows read of a run's list to judge how common it is (see :func:`density`)."""

RARE = 0.02
"""A run in under this share of messages is always asked for (it narrows well, cheaply)."""

KEEP_WITHIN = 2.0
"""Runs up to this many times as dense as the rarest one are asked for too."""

MAX_RUNS = 3
"""At most this many runs a term: each more costs a list read and narrows less."""


_SEPARATORS_TO_SPACE = separator_table(string.ascii_letters + string.digits)
"""ASCII letters and digits kept, every other byte a space."""


def words_of(text: str) -> set[str]:
    """Return the distinct words of a text, as the index splits it.

    ASCII text (most heads) is split with ``bytes.translate`` and ``split``,
    in C: 91 -> 41 us for a newsletter's 4 KB head, on the index thread (a
    test holds it to ``WORD.findall``).
    """
    if text.isascii():
        return set(split_ascii(text, _SEPARATORS_TO_SPACE))
    return set(WORD.findall(text))


def joint(before: str, punctuation: str, after: str) -> str:
    """Return the token of punctuation between two word characters (made of word characters)."""
    return f"{JOINT_MARK}{before}{punctuation.encode('ascii').hex()}{after}"


def body_of(head: str) -> str:
    """Return what the index is given for a head: the head, then the tokens of its joints.

    A NUL becomes a space (both separate words, neither is punctuation): FTS5
    was given nothing of a head past a NUL, so its later words were missed.
    """
    found = [joint(a, p, b) for a, p, b in _joints(head)]
    head = head.replace("\x00", " ")
    return f"{head}\n{' '.join(found)}" if found else head


_WORD_CLASS = ord("w")
_PUNCTUATION_CLASS = ord("p")


def _joint_classes() -> bytes:
    """Return a ``bytes.translate`` table of :data:`JOINT`'s classes for ASCII text.

    ``w`` for a word character, ``p`` for punctuation, a space for anything else
    (uppercase letters and controls: neither, in a lowercased head); taken from
    the patterns themselves, so the two cannot disagree.
    """
    table = bytearray(b" " * 256)
    for byte in range(128):
        if _WORD_CHARACTER.fullmatch(chr(byte)):
            table[byte] = _WORD_CLASS
        elif _PUNCTUATION.fullmatch(chr(byte)):
            table[byte] = _PUNCTUATION_CLASS
    return bytes(table)


_JOINT_CLASSES = _joint_classes()


def _joints(text: str) -> list[tuple[str, str, str]]:
    """Return (word character, punctuation, word character) of each joint of a text.

    What ``JOINT.finditer`` finds (a test checks it).  An ASCII head (most
    are) is first translated to its classes (:func:`_joint_classes`), then each
    run of punctuation is found with ``bytes.find`` and its neighbours read as
    bytes: 13-21 us for a newsletter's 4 KB head, where a regular expression over
    the text took 62 (a match attempt at every letter) -- on the index thread,
    which shares the GIL with the SMTP loop (issue 19).
    """
    if not text.isascii():
        return _joints_of_any(text)
    classes = text.encode("ascii").translate(_JOINT_CLASSES)
    found = []
    find = classes.find
    end_of_text = len(classes)
    start = find(b"p")
    while start >= 0:
        end = start + 1
        while end < end_of_text and classes[end] == _PUNCTUATION_CLASS:
            end += 1
        if (
            start
            and end < end_of_text
            and classes[start - 1] == _WORD_CLASS
            and classes[end] == _WORD_CLASS
        ):
            found.append((text[start - 1], text[start:end], text[end]))
        start = find(b"p", end)
    return found


def _joints_of_any(text: str) -> list[tuple[str, str, str]]:
    """:func:`_joints` for text with non-ASCII characters (word characters of ``JOINT``)."""
    found = []
    end_of_text = len(text)
    for run in _PUNCTUATION.finditer(text):
        start, end = run.span()
        if (
            start
            and end < end_of_text
            and _WORD_CHARACTER.match(text, start - 1)
            and _WORD_CHARACTER.match(text, end)
        ):
            found.append((text[start - 1], run.group(), text[end]))
    return found


@dataclass(frozen=True)
class Run:
    """One run of word characters of a searched value.

    ``starts``: a separator comes before it in the value, so it starts a word of
    any text holding the value; ``ends``: one comes after it, so it ends one.
    """

    text: str
    starts: bool
    ends: bool

    @property
    def whole(self) -> bool:
        """Tell whether the run is a whole word wherever the value occurs."""
        return self.starts and self.ends

    @property
    def usable(self) -> bool:
        """Tell whether the index can find the words this run may be part of."""
        if self.starts:  # a range of the vocabulary, however short (it is counted first)
            return self.ends or self.text[-1] != "\U0010ffff"
        return len(self.text) >= MIN_PIECE

    def match(self) -> tuple[str, list[object]]:
        """Return an SQL expression of the FTS5 query of the rows holding a word that fits.

        A whole word is itself; a word's start, end or middle is every
        vocabulary word that has it there (``'""'``, which matches nothing, when
        none has).  Not an FTS5 prefix query for a start: FTS5 merges the whole
        lists of a prefix before it returns a row, and ``test*`` read every
        message's ``example.test`` (42 ms of ``to:user42@example.test`` at
        200,000 messages); a list of words is read only as far as it is needed.
        """
        if self.whole:
            return "?", [f'"{self.text}"']
        vocab, params = self._vocab()
        return f"(SELECT coalesce(group_concat(word, ' OR '), '\"\"') FROM ({vocab}))", params

    def rows(self, joined: bool) -> tuple[str, list[object]]:
        """Return a SELECT of the indexed messages holding a word this run fits.

        ``joined``: each vocabulary word is a lookup of its own (:data:`MAX_JOINED`);
        a message may then come once per word.
        """
        if not joined:
            match, params = self.match()
            return f"SELECT rowid FROM idx.fts WHERE fts MATCH {match}", params
        vocab, params = self._vocab()
        return f"SELECT f.rowid FROM ({vocab}) AS v, idx.fts AS f WHERE f.fts MATCH v.word", params

    def vocab_count(self, db: sqlite3.Connection, most: int) -> int:
        """Return how many vocabulary words this run may be part of (at most ``most + 1``).

        A whole word is one FTS5 term: 1.
        """
        if self.whole:
            return 1
        vocab, params = self._vocab()
        row = db.execute(f"SELECT count(*) FROM ({vocab} LIMIT ?)", [*params, most + 1])
        return int(row.fetchone()[0])

    def _vocab(self) -> tuple[str, list[object]]:
        """Return the SELECT of the vocabulary words this run may be part of, quoted for FTS5.

        Letters, digits and non-ASCII only: nothing to quote, no LIKE wildcard.
        """
        quoted = "SELECT '\"' || word || '\"' AS word FROM idx.vocab WHERE "
        if self.starts:
            # A range of the vocabulary's index: the words from the run up to (not
            # including) the run with its last character's successor start with it.
            after = self.text[:-1] + chr(ord(self.text[-1]) + 1)
            return f"{quoted}word >= ? AND word < ?", [self.text, after]
        # The trigram index is case-sensitive, so its phrase is exactly a substring;
        # LIKE keeps the words with the run at their end.
        pattern = f"%{self.text}" if self.ends else f"%{self.text}%"
        return (
            f"{quoted}id IN (SELECT rowid FROM idx.vocab_grams WHERE vocab_grams MATCH ?) "
            "AND word LIKE ?",
            [f'"{self.text}"', pattern],
        )


def runs_of(value: str) -> list[Run]:
    """Return the runs of word characters of a searched value, in order."""
    return [
        Run(found.group(), found.start() > 0, found.end() < len(value))
        for found in WORD.finditer(value)
    ]


def joints_of(value: str) -> list[Run]:
    """Return the joints of a searched value as whole tokens (any text holding it has them)."""
    return [Run(joint(a, p, b), True, True) for a, p, b in _joints(value)]


def single(value: str) -> Run | None:
    """Return the value as one run if it is nothing else (then words answer it exactly)."""
    found = WORD.fullmatch(value)
    return Run(value, False, False) if found else None


def density(db: sqlite3.Connection, run: Run) -> float:
    """Return the estimated share of messages holding a word ``run`` fits (its list's start)."""
    expression, params = run.match()
    low, high, found = db.execute(
        "SELECT min(rowid), max(rowid), count(*) FROM "
        f"(SELECT rowid FROM idx.fts WHERE fts MATCH {expression} LIMIT ?)",
        [*params, SAMPLE],
    ).fetchone()
    count = int(found)
    if count < SAMPLE:
        return count / 1e9  # the whole list is this short: rare, and rarer the shorter
    return count / (int(high) - int(low) + 1)


@dataclass(frozen=True)
class Rows:
    """A SELECT of indexed messages' seqs for a searched value, and what they are.

    ``exact``: exactly the indexed messages whose head holds the value;
    otherwise a superset of them, to be checked.
    """

    select: str
    params: list[object]
    exact: bool


def rows_of(db: sqlite3.Connection, value: str) -> Rows | None:
    """Return how the index finds the messages holding ``value``; None if it cannot narrow them.

    A value of one run of word characters is exactly the messages holding one of
    the words it is in.  Other values are the messages that fit their rarest
    runs: any subset of the runs finds a superset of the messages holding the
    value, so the rare ones are picked, sampled as ``trigrams.py`` did (index
    version 3); only runs of at most :data:`MAX_WORDS` words are sampled, and
    when none is, the run of the fewest words is looked up word by word.
    """
    found = [*runs_of(value), *joints_of(value)]
    counts = {run: run.vocab_count(db, MAX_JOINED) for run in found if run.usable}
    counts = {run: count for run, count in counts.items() if count <= MAX_JOINED}
    run = single(value)
    if run is not None and run in counts:
        return Rows(*run.rows(joined=counts[run] > MAX_WORDS), exact=True)
    few = [run for run, count in counts.items() if count <= MAX_WORDS]
    if few:
        match, params = match_all(_rarest(db, few))
        return Rows(f"SELECT rowid FROM idx.fts WHERE fts MATCH {match}", params, exact=False)
    if counts:
        fewest = min(counts, key=counts.__getitem__)
        return Rows(*fewest.rows(joined=True), exact=False)
    return None


def _rarest(db: sqlite3.Connection, runs: list[Run]) -> list[Run]:
    """Return the rarest of these runs (at most :data:`MAX_RUNS`), in their order."""
    if len(runs) <= 1:
        return runs
    rated = sorted(((density(db, run), n) for n, run in enumerate(runs)), key=lambda r: r[0])
    rarest = rated[0][0]
    keep = sorted([n for d, n in rated if d <= max(RARE, rarest * KEEP_WITHIN)][:MAX_RUNS])
    return [runs[n] for n in keep]


def match_all(runs: list[Run]) -> tuple[str, list[object]]:
    """Return an SQL expression of the FTS5 query of the rows that fit every run."""
    parts, params = [], []
    for run in runs:
        expression, run_params = run.match()
        parts.append(f"'(' || {expression} || ')'")
        params.extend(run_params)
    return " || ' AND ' || ".join(parts), params
