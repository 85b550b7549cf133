"""The PostgreSQL store's text indexer: it moves texts in batches and vacuums what they leave."""

from __future__ import annotations

import time
from collections.abc import Callable

import psycopg

from helpers import incoming
from mailsink.search import parse_query
from mailsink.store.postgres import PostgresStore
from mailsink.store.postgres.text_index import VACUUM_EVERY


def _pages(url: str, table: str) -> int:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute("SELECT pg_relation_size(%s) / 8192", (table,)).fetchone()
    assert row is not None
    return int(row[0])


def test_the_new_texts_table_is_vacuumed_as_texts_move_out(
    postgres_url: Callable[[], str],
) -> None:
    url = postgres_url()
    store = PostgresStore(url).start()
    try:
        for first in range(0, 2 * VACUUM_EVERY, 500):
            store.add([incoming(subject=f"batch {first} word{n}") for n in range(500)])
        assert store.wait_indexed(timeout=120)
        # Vacuum after the last move empties the table's file: nothing dead is left to scan.
        deadline = time.monotonic() + 20
        while _pages(url, "mailsink_text_new") > 0:
            assert time.monotonic() < deadline, "the moved texts' dead rows were not vacuumed"
            time.sleep(0.1)
        assert store.list(0, 1, parse_query("word499")).matched == 2 * VACUUM_EVERY // 500
    finally:
        store.close()
