"""The memory store's word index: which messages a search can match, without decoding them.

Without it every search decoded and scanned every message: 2.6-7.7 s at
500,000 messages (issue 19).  The index keeps, per searchable field, the
words of each message (:class:`~mailsink.store.postings.Postings`): the
free-text field (the whole :func:`~mailsink.store.match.search_text`), the
subject and each address header (its
:func:`~mailsink.store.match.address_text`), each lowercased exactly as the
matcher sees it.  The message-ID has no postings of its own: its words are
in the free-text field's, which therefore gives a ``message-id:`` term its
candidates (not exactly its matches: the store confirms them).  Message-IDs
are unique, so their words were a line of each field's tail for every
message, twice over, for a search that is rarely made and whose candidates
are few.

Address headers are split into *tokens* instead of words: runs between the
whitespace, ``<``, ``>`` and ``,`` that ``address_text`` puts between names
and addresses (:data:`~mailsink.store.postings.TOKEN`), so an address is one
token and ``to:user42@example.test`` one run whose candidates are its
matches, not the 500 messages to ``user42`` decoded and checked one by one
(80 ms of CPU at 500,000 messages, issue 19).

A searched value is split into runs of word characters (of token
characters, for an address field).  Each run must be
in one word of the text: any word when the run is the whole value; a word
starting with it when something precedes it in the value, ending with it when
something follows, equal to it when both.  The messages holding such words
are candidates, intersected over runs and terms.  When every term is a
positive text/field term whose value is a single run, the candidates *are*
the answer (see ``postings.py`` for why); otherwise the store confirms each
candidate with the exact matcher.  Terms the index knows nothing of
(negations, sizes, dates, headers) leave the narrowing to the others.

Sequence numbers are the store's UIDs.  Deleted messages stay in the
postings until a sweep: lookups drop those below the oldest kept (the
*floor*, which pruning and clearing raise) and those in a set of the others.
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass
from itertools import filterfalse
from typing import TYPE_CHECKING

from mailsink.store.match import address_list, address_text, search_text
from mailsink.store.postings import TOKEN, WORD, Mode, Postings, tokens, words

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from mailsink.search import Term
    from mailsink.store.base import StoredMessage

_ADDRESS_FIELDS = ("to", "from", "cc", "bcc", "reply-to")
FIELDS = ("text", "subject", *_ADDRESS_FIELDS)
_ALSO_IN_TEXT = frozenset({"message-id"})
"""Searched fields whose words are looked up in the free-text field's postings (not exact)."""

_TAIL_BUDGET = 200_000
"""Tail hits past which a word is not worth narrowing by (a scan is as quick)."""


@dataclass(frozen=True, slots=True)
class Lookup:
    """The candidates of one run of a term: sorted lists of sequence numbers, united."""

    lists: list[Sequence[int]]
    exact: bool
    """Whether these candidates are exactly the term's matches."""

    def cost(self) -> int:
        """Return how many numbers the lists hold."""
        return sum(len(seqs) for seqs in self.lists)


def _mode(start: int, end: int, length: int) -> Mode:
    """Return how a run at value[start:end] must relate to a word of the text."""
    if start > 0 and end < length:
        return "exact"
    if start > 0:
        return "prefix"
    if end < length:
        return "suffix"
    return "contains"


class MemoryIndex:
    """Index the words of messages by sequence number and narrow searches with them."""

    def __init__(self) -> None:
        self._fields = {name: Postings() for name in FIELDS}
        self._dead: set[int] = set()
        self._floor = 0
        self._swept_floor = 0

    def clear(self, floor: int) -> None:
        """Forget every message; floor is the next sequence number to come."""
        self._fields = {name: Postings() for name in FIELDS}
        self._dead = set()
        self._floor = self._swept_floor = floor

    def add(self, seq: int, message: StoredMessage) -> None:
        """Index one message (with its text body) under seq, larger than any before."""
        fields = self._fields
        fields["text"].add(seq, words(search_text(message)))
        summary = message.summary
        if summary.subject:
            fields["subject"].add(seq, words(summary.subject.lower()))
        for name in _ADDRESS_FIELDS:
            addresses = address_list(message, name)
            if addresses:
                fields[name].add(seq, tokens(address_text(addresses)))

    def forget(self, seqs: Iterable[int], floor: int, alive: int) -> None:
        """Treat seqs as deleted; floor is now the oldest kept sequence number.

        Sweeps the postings when the deleted ones have grown to a good part
        of the index, so that memory follows what the store keeps.
        """
        self._dead.update(s for s in seqs if s >= floor)
        if floor > self._floor:
            self._floor = floor
            if self._dead:
                self._dead = {s for s in self._dead if s >= floor}
        margin = max(4096, alive // 2)
        if len(self._dead) > margin or self._floor - self._swept_floor > margin:
            for postings in self._fields.values():
                postings.sweep(self._floor, self._dead)
            self._dead.clear()
            self._swept_floor = self._floor

    def lookups(self, term: Term) -> list[Lookup] | None:
        """Return one Lookup per run of a positive text or field term (None: cannot narrow)."""
        if term.negate or not term.value:
            return None
        if term.field == "addressed":
            fields: tuple[str, ...] = _ADDRESS_FIELDS
        elif term.field in self._fields:
            fields = (term.field,)
        elif term.field in _ALSO_IN_TEXT:
            fields = ("text",)
        else:
            return None
        value = term.value
        runs = list((TOKEN if fields[0] in _ADDRESS_FIELDS else WORD).finditer(value))
        exact = (
            len(runs) == 1
            and runs[0].group() == value
            and not term.exact
            and term.field not in _ALSO_IN_TEXT
        )
        found = []
        for run in runs:
            mode = _mode(run.start(), run.end(), len(value))
            lists: list[Sequence[int]] = []
            for name in fields:
                got = self._fields[name].lookup(run.group(), mode, _TAIL_BUDGET)
                if got is None:
                    break
                lists.extend(got)
            else:
                found.append(Lookup(lists, exact))
        if len(found) < len(runs):
            # A run that did not narrow: the others still do, but not exactly.
            found = [Lookup(f.lists, exact=False) for f in found]
        return found or None

    def narrow(self, lookups: list[Lookup], alive: int) -> tuple[list[int], bool] | None:
        """Return the kept sequence numbers in every lookup, ascending, and whether exact.

        None when even the smallest lookup is too big to be worth it.
        """
        ordered = sorted(lookups, key=Lookup.cost)
        first = ordered[0]
        if first.cost() > 4 * alive + 1000:
            return None
        seqs = self._kept(first.lists)
        exact = all(lookup.exact for lookup in lookups)
        for other in ordered[1:]:
            if not seqs:
                break
            if other.cost() > 4 * alive and len(other.lists) > 16:
                exact = False  # too many words to unite; the matcher will check
                continue
            if len(other.lists) > 4 or other.cost() < 8 * len(seqs):
                members = set().union(*other.lists)
                seqs = [s for s in seqs if s in members]
            else:
                seqs = [s for s in seqs if any(_holds(lst, s) for lst in other.lists)]
        return seqs, exact

    def _kept(self, lists: list[Sequence[int]]) -> list[int]:
        """Return the union of sorted lists without deleted numbers, ascending."""
        floor, dead = self._floor, self._dead
        if len(lists) == 1:
            only = lists[0]
            merged: Sequence[int] = only[bisect_left(only, floor) :]
        else:
            merged = sorted(set().union(*lists))
            merged = merged[bisect_left(merged, floor) :]
        if dead:
            return list(filterfalse(dead.__contains__, merged))
        return list(merged)

    def words(self) -> dict[str, int]:
        """Return how many words each field keeps an array for (for tests and benchmarks)."""
        return {name: postings.words() for name, postings in self._fields.items()}

    def entries(self) -> int:
        """Return the size of the postings: array entries plus tail lines, every field."""
        return sum(postings.entries() for postings in self._fields.values())


def _holds(seqs: Sequence[int], seq: int) -> bool:
    """Tell whether the sorted seqs hold seq."""
    at = bisect_left(seqs, seq)
    return at < len(seqs) and seqs[at] == seq
