"""The memory store counts tags from its side table, as a ``tag:`` search would."""

from __future__ import annotations

from helpers import incoming
from mailsink.search import Query, Term
from mailsink.store.memory import MemoryStore


def test_tag_counts_agree_with_a_search_per_tag() -> None:
    store = MemoryStore()
    store.add(
        [
            incoming(extra_headers="X-Tags: Alpha, beta\r\n"),
            incoming(extra_headers="X-Tags: alpha\r\n"),
            incoming(rcpts=("bob+Beta@example.test",)),
            incoming(),
        ]
    )
    ids = store.ids()
    store.set_tags([ids[0]], ["gamma", "ALPHA"])
    store.rename_tag("beta", "delta")
    expected = {
        tag: store.list(0, 0, Query((Term("tag", tag.lower()),))).matched for tag in store.tags()
    }
    assert store.tag_counts() == expected
    # One spelling of alpha is listed (which one is the store's choice); it counts all three.
    assert {tag.lower(): count for tag, count in expected.items()}["alpha"] == 3
    store.delete(ids[:2])
    assert store.tag_counts() == {
        tag: store.list(0, 0, Query((Term("tag", tag.lower()),))).matched for tag in store.tags()
    }
