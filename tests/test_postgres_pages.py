"""The PostgreSQL store's pages: a search counts its matches and unread ones in one pass."""

from __future__ import annotations

from collections.abc import Callable

from helpers import incoming
from mailsink.search import parse_query
from mailsink.store.postgres import PostgresStore


def test_a_search_counts_its_unread_matches_in_the_same_pass(
    postgres_url: Callable[[], str],
) -> None:
    store = PostgresStore(postgres_url()).start()
    try:
        store.add([incoming(subject=f"{'odd' if n % 2 else 'even'} {n}") for n in range(60)])
        odd = store.ids(parse_query("subject:odd"))
        store.set_read(odd[:7], True)
        store.set_read(store.ids(parse_query("subject:even"))[:3], True)
        for start, limit in ((0, 5), (10, 50), (29, 1), (40, 10)):
            page = store.list(start, limit, parse_query("subject:odd"))
            assert (page.matched, page.matched_unread) == (30, 23)
            assert [m.id for m in page.items] == odd[start : start + limit]
        whole = store.list(50, 20)
        assert (whole.matched, whole.matched_unread, len(whole.items)) == (60, 50, 10)
        assert [m.id for m in whole.items] == store.ids()[50:]
        nothing = store.list(0, 50, parse_query("subject:nowhere"))
        assert (nothing.items, nothing.matched, nothing.matched_unread) == ([], 0, 0)
    finally:
        store.close()
