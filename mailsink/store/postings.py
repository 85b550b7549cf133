"""The postings of one searchable field: which messages hold which words.

Searches match *substrings* of lowercased text (Mailpit's semantics), so a
word -> messages map cannot answer them alone.  But a value made only of word
characters (``\\w``) can occur in a text only inside one of its words: the
messages whose text contains it are exactly those with a word that contains
it.  So the postings keep each message's distinct words and answer a lookup
by going through the vocabulary, which is small next to the text.

A word seen in several messages gets a sorted ``array('I')`` of sequence
numbers: 4 bytes a message, kept sorted by appending because sequence numbers
only grow.  A word seen once (tracking codes, message numbers, made-up words)
would cost ~150 bytes as a dict key with its own array, and such words are
most of the distinct words of real mail; they go instead to one line of text
per message in chunks (the *tail*), searched with ``str.find`` at C speed.
A word joins the vocabulary after :data:`PROMOTE_AFTER` sightings; its
earlier sightings stay in the tail, and every lookup reads both.

Deleted messages are not removed one by one: callers filter what comes back
and call :meth:`Postings.sweep` now and then, which drops them for good.
"""

from __future__ import annotations

import re
import string
from array import array
from bisect import bisect_left, bisect_right
from itertools import filterfalse
from typing import TYPE_CHECKING, Literal

from mailsink.store.ascii_words import separator_table, split_ascii

if TYPE_CHECKING:
    from collections.abc import Sequence

WORD = re.compile(r"\w+")
"""What a word is, for indexing text and for splitting a searched value alike."""

_SPACE_OUT = separator_table(string.ascii_letters + string.digits + "_")
"""ASCII word characters (what ``\\w`` matches in ASCII text) kept, every other byte a space."""


def words(text: str) -> set[str]:
    """Return the distinct words of text, as ``WORD.findall`` finds them.

    ASCII text (most mail) is split with ``bytes.translate`` and ``split``,
    in C, at about half the cost of the regular expression.
    """
    if text.isascii():
        return set(split_ascii(text, _SPACE_OUT))
    return set(WORD.findall(text))


TOKEN = re.compile(r"[^\s<>,]+")
"""What a token of an address header is: a run between the whitespace, ``<``, ``>`` and ``,``
that :func:`~mailsink.store.match.address_text` puts around names and addresses."""

_TOKEN_SPACES = str.maketrans("<>,", "   ")


def tokens(text: str) -> set[str]:
    """Return the distinct tokens of an address text, as ``TOKEN.findall`` finds them.

    ``str.split`` splits on exactly the characters ``\\s`` matches.
    """
    return set(text.translate(_TOKEN_SPACES).split())


Mode = Literal["contains", "prefix", "suffix", "exact"]
"""How a word of a searched value must relate to a word of the text."""

PROMOTE_AFTER = 3
"""Sightings (in distinct messages) after which a word gets its own array."""

_SEEN_CAP = 1 << 16
"""Words counted towards promotion at most; the counts start over when full."""

_CHUNK_LINES = 1024
"""Tail lines (messages) per chunk of text."""


class _Chunk:
    """A closed piece of the tail: lines ``" word word "`` joined by newlines."""

    __slots__ = ("seqs", "starts", "text")

    def __init__(self, lines: Sequence[str], seqs: array[int]) -> None:
        self.text = "\n".join(lines)
        self.seqs = seqs
        self.starts = array("I")
        at = 0
        for line in lines:
            self.starts.append(at)
            at += len(line) + 1

    def find(self, needle: str, out: list[int], budget: int) -> bool:
        """Append the sequence number of each line holding needle; False past budget."""
        text, starts, seqs = self.text, self.starts, self.seqs
        at = text.find(needle)
        while at >= 0:
            line = bisect_right(starts, at) - 1
            out.append(seqs[line])
            if len(out) > budget:
                return False
            if line + 1 >= len(starts):
                break
            at = text.find(needle, starts[line + 1])
        return True

    def lines(self) -> list[str]:
        """Return the chunk's lines again."""
        return self.text.split("\n")


def _needle(word: str, mode: Mode) -> str:
    """Return what to look for in tail lines, whose words are each wrapped in spaces."""
    return {
        "contains": word,
        "prefix": f" {word}",
        "suffix": f"{word} ",
        "exact": f" {word} ",
    }[mode]


def _keys(vocab: dict[str, array[int]], word: str, mode: Mode) -> list[str]:
    """Return the vocabulary words that match word in this mode."""
    if mode == "exact":
        return [word] if word in vocab else []
    if mode == "prefix":
        return [k for k in vocab if k.startswith(word)]
    if mode == "suffix":
        return [k for k in vocab if k.endswith(word)]
    return [k for k in vocab if word in k]


class Postings:
    """Map the words of one field to the (sorted) sequence numbers of its messages."""

    __slots__ = ("_chunks", "_line_seqs", "_lines", "_seen", "vocab")

    def __init__(self) -> None:
        self.vocab: dict[str, array[int]] = {}
        self._seen: dict[str, int] = {}
        self._chunks: list[_Chunk] = []
        self._lines: list[str] = []
        self._line_seqs = array("I")

    def add(self, seq: int, words: set[str]) -> None:
        """Record that message seq (larger than any before) holds these distinct words."""
        vocab, seen = self.vocab, self._seen
        rare = []
        for word in words:
            found = vocab.get(word)
            if found is not None:
                found.append(seq)
                continue
            count = seen.get(word, 0) + 1
            if count >= PROMOTE_AFTER:
                vocab[word] = array("I", (seq,))
                del seen[word]
                continue
            if len(seen) >= _SEEN_CAP:
                seen.clear()
            seen[word] = count
            rare.append(word)
        if rare:
            self._lines.append(f" {' '.join(rare)} ")
            self._line_seqs.append(seq)
            if len(self._lines) >= _CHUNK_LINES:
                self._chunks.append(_Chunk(self._lines, self._line_seqs))
                self._lines, self._line_seqs = [], array("I")

    def lookup(self, word: str, mode: Mode, budget: int) -> list[Sequence[int]] | None:
        """Return sorted lists of the messages with a word matching word in this mode.

        None when the tail alone holds more than budget of them: the caller
        is better off without the index for this word.
        """
        lists: list[Sequence[int]] = [self.vocab[k] for k in _keys(self.vocab, word, mode)]
        needle = _needle(word, mode)
        hits: list[int] = []
        for chunk in self._chunks:
            if not chunk.find(needle, hits, budget):
                return None
        open_lines = zip(self._lines, self._line_seqs, strict=True)
        hits.extend(seq for line, seq in open_lines if needle in line)
        if hits:
            lists.append(hits)
        return lists

    def sweep(self, floor: int, dead: set[int]) -> None:
        """Drop every message below floor or in dead, and the words left without messages."""
        vocab = self.vocab
        for word, seqs in list(vocab.items()):
            cut = bisect_left(seqs, floor)
            if cut:
                del seqs[:cut]
            if dead and seqs:
                kept = array("I", filterfalse(dead.__contains__, seqs))
                if len(kept) != len(seqs):
                    vocab[word] = seqs = kept
            if not seqs:
                del vocab[word]
        chunks = []
        for chunk in self._chunks:
            if chunk.seqs[-1] < floor:
                continue
            if chunk.seqs[0] < floor or (dead and not dead.isdisjoint(chunk.seqs)):
                pairs = [
                    (line, s)
                    for line, s in zip(chunk.lines(), chunk.seqs, strict=True)
                    if s >= floor and s not in dead
                ]
                if not pairs:
                    continue
                chunk = _Chunk([p[0] for p in pairs], array("I", (p[1] for p in pairs)))
            chunks.append(chunk)
        self._chunks = chunks
        kept_lines = [
            (line, s)
            for line, s in zip(self._lines, self._line_seqs, strict=True)
            if s >= floor and s not in dead
        ]
        self._lines = [p[0] for p in kept_lines]
        self._line_seqs = array("I", (p[1] for p in kept_lines))

    def words(self) -> int:
        """Return how many words have their own array (for tests and benchmarks)."""
        return len(self.vocab)

    def entries(self) -> int:
        """Return how many (word, message) pairs the arrays hold, plus the tail's lines."""
        lines = len(self._lines) + sum(len(chunk.seqs) for chunk in self._chunks)
        return lines + sum(len(seqs) for seqs in self.vocab.values())
