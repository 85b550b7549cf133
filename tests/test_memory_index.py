"""The memory store's word index answers exactly as a scan of every message would.

Each test fills a real MemoryStore, changes it (flags, tags, deletes,
pruning) and compares its searches with the matcher run over every message
kept, built from what was added: the index may only make searches faster.
"""

from __future__ import annotations

import dataclasses
import itertools
import random

import pytest

from helpers import incoming, make_raw
from mailsink.search import parse_query
from mailsink.store.base import Incoming, StoredMessage
from mailsink.store.match import compile_query
from mailsink.store.memory import MemoryStore
from mailsink.store.memory_index import Lookup, MemoryIndex
from mailsink.store.postings import PROMOTE_AFTER, TOKEN, WORD, tokens, words

WORDS = ["alpha", "beta", "gamma", "delta", "alphabet", "betamax", "omega", "x1", "über", "naïve"]


def _word(rng: random.Random) -> str:
    if rng.random() < 0.2:  # a word no other message has: it stays in the tail
        return "".join(rng.choice("abcdefghij") for _ in range(6))
    return rng.choice(WORDS)


def _message(rng: random.Random, n: int) -> Incoming:
    words = [_word(rng) for _ in range(rng.randint(0, 12))]
    tags = f"X-Tags: {rng.choice(['red', 'Blue', 'red, green'])}\r\n" if n % 7 == 0 else ""
    raw = make_raw(
        subject=f"{_word(rng)} {_word(rng)}-{n}",
        sender=f"Sender {_word(rng)} <s{n % 5}@from.test>",
        to=", ".join(f"u{rng.randint(0, 9)}@{rng.choice(['a.test', 'b.test'])}" for _ in "xy"),
        body=" ".join(words) or "-",
        extra_headers=tags + (f"Cc: c{n % 3}@cc.test\r\n" if n % 3 else ""),
    )
    return incoming(raw)


def _queries(rng: random.Random) -> list[str]:
    """Return random queries: words, parts of words, several runs, fields, flags, negations."""
    simple = [
        *WORDS,
        "alph",
        "ta",
        "bet",
        "mega",
        "x",
        "über",
        "u3",
        "u3@a.test",
        "@b.test",
        "s2@from",
        "sender",
        "from.test",
        "a.test",
        "-7",
        "7",
    ]
    fields = ["", "subject:", "to:", "from:", "cc:", "addressed:", "-", "to:=", "message-id:"]
    others = ["tag:red", "tag:blue", "is:read", "is:unread", "-is:read", "is:tagged", "-is:unread"]
    others.append("has:attachment")
    queries = []
    for _ in range(60):
        terms = [rng.choice(fields) + rng.choice(simple) for _ in range(rng.randint(1, 2))]
        if rng.random() < 0.3:
            terms.append(rng.choice(others))
        queries.append(" ".join(terms))
    return queries + [f'"{a} {b}"' for a, b in itertools.pairwise(WORDS)] + others


def _kept(store: MemoryStore, added: dict[str, Incoming]) -> list[StoredMessage]:
    """Return the kept messages as added, with their current flags, newest first."""
    records = []
    for message_id in store.ids():
        item, now = added[message_id], store.get(message_id)
        assert now is not None
        summary, envelope = item.summary, item.envelope
        records.append(StoredMessage(item.id, item.received, envelope, summary, now.read, now.tags))
    return records


def _check(store: MemoryStore, added: dict[str, Incoming], rng: random.Random) -> None:
    records = _kept(store, added)
    for query in _queries(rng):
        matches = compile_query(parse_query(query), store.raw)
        expected = [record.id for record in records if matches(record)]
        assert store.ids(parse_query(query)) == expected, query
        page = store.list(1, 3, parse_query(query))
        assert [m.id for m in page.items] == expected[1:4], query
        assert page.matched == len(expected), query


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_index_answers_as_a_scan_would_through_flags_tags_and_deletes(seed: int) -> None:
    rng = random.Random(seed)
    store = MemoryStore()
    added: dict[str, Incoming] = {}
    for n in range(300):
        item = _message(rng, n)
        added[item.id] = item
        store.add([item])
    _check(store, added, rng)
    ids = store.ids()
    store.set_read(rng.sample(ids, 100), True)
    store.set_tags(rng.sample(ids, 30), ["Blue", "other"])
    store.rename_tag("red", "green")
    store.delete(rng.sample(ids, 120))
    _check(store, added, rng)
    for n in range(300, 340):  # after deletes: new messages, new words
        item = _message(rng, n)
        added[item.id] = item
        store.add([item])
    _check(store, added, rng)


def test_pruning_drops_postings_and_results_stay_exact() -> None:
    rng = random.Random(4)
    store = MemoryStore(max_messages=50)
    added: dict[str, Incoming] = {}
    for first in range(0, 6000, 100):
        batch = [_message(rng, n) for n in range(first, first + 100)]
        added.update((item.id, item) for item in batch)
        store.add(batch)
    assert store.count() == 50
    _check(store, added, rng)
    # Each sweep (pruning past 4,096 messages since the last) dropped the pruned ones.
    index = store._index
    whole = MemoryIndex()
    for seq, item in enumerate(added.values(), 1):
        whole.add(seq, StoredMessage(item.id, item.received, item.envelope, item.summary))
    assert index.entries() < whole.entries() / 2


def test_clear_forgets_every_word_and_new_mail_is_found() -> None:
    store = MemoryStore()
    store.add([incoming(subject="findme") for _ in range(5)])
    store.clear()
    assert store.ids(parse_query("findme")) == []
    fresh = incoming(subject="findme again")
    store.add([fresh])
    assert store.ids(parse_query("findme")) == [fresh.id]
    assert store.ids(parse_query("subject:again")) == [fresh.id]


def test_a_word_moves_from_the_tail_to_the_vocabulary_and_both_are_read() -> None:
    store = MemoryStore()
    items = [incoming(body="zebracorn") for _ in range(PROMOTE_AFTER + 2)]
    for item in items:
        store.add([item])
    assert "zebracorn" in store._index._fields["text"].vocab
    expected = [item.id for item in reversed(items)]
    assert store.ids(parse_query("zebracorn")) == expected
    assert store.ids(parse_query("ebraco")) == expected


def test_a_message_id_search_is_narrowed_by_the_text_words_and_confirmed() -> None:
    store = MemoryStore()
    owner = incoming(raw=make_raw(body="hi").replace(b"Message-ID: <", b"Message-ID: <idword.", 1))
    mention = incoming(body="the idword is also in this body")
    store.add([owner, mention, incoming()])
    assert "message-id" not in store._index.words()  # no postings of its own
    assert store.ids(parse_query("idword")) == [mention.id, owner.id]
    assert store.ids(parse_query("message-id:idword")) == [owner.id]
    assert store.ids(parse_query("message-id:nowhere")) == []


def test_an_address_is_one_token_so_an_address_search_needs_no_check() -> None:
    index = MemoryIndex()
    for seq, to in enumerate(["Ann Lee <ann@x.test>", "ann@x.test.org", "bob@x.test"], 1):
        index.add(seq, StoredMessage(str(seq), 0.0, incoming().envelope, incoming(to=to).summary))
    for query, expected in [
        ("to:ann@x.test", [1, 2]),
        ("addressed:x.test.org", [2]),
        ("to:@x.test", [1, 2, 3]),
        ('to:"lee <ann@"', [1]),  # three runs: candidates the store confirms
    ]:
        lookups = index.lookups(parse_query(query).terms[0])
        assert lookups is not None
        assert index.narrow(lookups, alive=3) == (expected, " " not in query), query


def test_half_way_page_comes_from_positions_also_after_random_deletes() -> None:
    store = MemoryStore()
    items = [incoming(subject=f"m{n}") for n in range(3000)]
    store.add(items)
    kept = [item.id for item in reversed(items)]
    gone = set(random.Random(5).sample(kept, 700))
    store.delete(gone)
    kept = [i for i in kept if i not in gone]
    for start in (0, 10, 990, 1500, 2290):
        page = store.list(start, 20)
        assert [m.id for m in page.items] == kept[start : start + 20]
    assert store.uids()[-1][1] == kept[0]


def test_deleted_messages_are_not_found_before_or_after_a_sweep() -> None:
    index = MemoryIndex()
    message = StoredMessage("a", 0.0, incoming().envelope, incoming(body="solo").summary)
    index.add(1, message)
    index.add(2, dataclasses.replace(message, id="b"))
    index.add(3, dataclasses.replace(message, id="c"))
    index.forget([2], floor=1, alive=2)  # a hole: filtered by the deleted set
    lookups = index.lookups(parse_query("solo").terms[0])
    assert lookups is not None
    assert index.narrow(lookups, alive=2) == ([1, 3], True)
    index.forget([1], floor=3, alive=1)  # the oldest: filtered by the floor
    assert index.narrow(index.lookups(parse_query("solo").terms[0]) or [], alive=1) == ([3], True)
    index.forget([], floor=5000, alive=0)  # far past the last sweep: sweeps
    assert index.words() == dict.fromkeys(index.words(), 0)
    assert index.lookups(parse_query("solo").terms[0]) == [Lookup([], exact=True)]


@pytest.mark.parametrize(
    "text",
    ["plain words, and_more: 42 x-1\r\n<a@b.test>", "über naïve ÉCOLE 東京 x\x00y", "", "---"],
)
def test_the_ascii_word_split_finds_what_the_regular_expression_finds(text: str) -> None:
    assert words(text.lower()) == set(WORD.findall(text.lower()))


def test_tokens_split_an_address_text_as_the_token_pattern_splits_a_searched_value() -> None:
    """The index splits with ``str.split``, a search with ``TOKEN``: they must agree."""
    for text in [
        "Ann Lee <ann@x.test>, bob@x.test",
        "a\x1cb\x1fc d\u3000e\u2028f\x85g",  # whitespace str.split and \s both know
        "<<>>,, ,<x>",
        "",
    ]:
        assert tokens(text) == set(TOKEN.findall(text)), repr(text)
