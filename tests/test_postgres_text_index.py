"""The PostgreSQL store's text indexer (it moves texts in batches and vacuums what they leave),
the word index it fills (schema versions 3 to 5) and the narrow rows it writes (version 8)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import psycopg

from helpers import incoming
from mailsink.search import parse_query
from mailsink.store.base import StoredMessage
from mailsink.store.match import search_text
from mailsink.store.memory import MemoryStore
from mailsink.store.postgres import PostgresStore
from mailsink.store.postgres.schema import INDEX_LOCK, SCHEMA_VERSION, TEXT_HEAD
from mailsink.store.postgres.text_index import VACUUM_EVERY
from pg_server import schema_version, undo_to


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


def test_the_queue_is_emptied_to_no_pages_when_its_last_dead_rows_are_few(
    postgres_url: Callable[[], str],
) -> None:
    """A vacuum that finds dead rows on under 2% of the pages skips them unless told to clean
    up: the table's file kept its size and every search read it (235 ms at a million)."""
    url = postgres_url()
    store = PostgresStore(url).start()
    try:
        with psycopg.connect(store.conninfo, autocommit=True) as holder:
            # Hold the indexer off (its lock), so the queue is shaped here.
            lock = "(hashtext(current_schema()), %s)"
            holder.execute(f"SELECT pg_advisory_lock{lock}", (INDEX_LOCK,))
            items = [incoming(subject=f"queued {n} " + "filler " * 60) for n in range(4000)]
            for first in range(0, len(items), 500):
                store.add(items[first : first + 500])
            store.delete([item.id for item in items[:-5]])
            holder.execute("VACUUM mailsink_text_new")  # frees all but the last page or two
            assert _pages(url, "mailsink_text_new") > 100
            holder.execute(f"SELECT pg_advisory_unlock{lock}", (INDEX_LOCK,))
        assert store.wait_indexed(timeout=60)
        deadline = time.monotonic() + 30
        while _pages(url, "mailsink_text_new") > 0:
            assert time.monotonic() < deadline, "the empty queue kept its pages"
            time.sleep(0.2)
        assert store.list(0, 10, parse_query("queued")).matched == 5
    finally:
        store.close()


WORDY = [
    "the reinvoiced total",
    "one invoice",
    "in-voice split",
    "x" * 70 + "needle" + "y" * 70,  # a run of 146: kept as pieces of 64
    "invoice_2026 and 2026",
    "caf\u00e9 au lait",
]
TERMS = ["invoice", "voice", "needle", "xneedley", "in-voice", "caf", "2026", "_2026", "nothing"]


def test_the_word_index_finds_every_substring_the_memory_store_finds(
    postgres_url: Callable[[], str],
) -> None:
    store = PostgresStore(postgres_url()).start()
    memory = MemoryStore()
    items = [incoming(body=body) for body in WORDY]
    store.add(items)
    memory.add(items)
    for read in (items[0].id, items[3].id):
        store.set_read([read], True)
        memory.set_read([read], True)
    try:
        assert store.wait_indexed()
        with psycopg.connect(store.conninfo, autocommit=True) as conn:
            pieces = conn.execute(
                "SELECT count(*) FROM mailsink_vocab WHERE length(word) = 64"
            ).fetchone()
        assert pieces == (4,), "the run of 146: pieces from 1, 33, 65 and 83"
        for term in TERMS:
            query = parse_query(term)
            expected = memory.ids(query)
            page = store.list(0, 50, query)
            assert store.ids(query) == [m.id for m in page.items] == expected, term
            unread = sum(1 for m in memory.list(0, 50, query).items if not m.read)
            assert (page.matched, page.matched_unread) == (len(expected), unread), term
    finally:
        store.close()


def test_version_2_tables_get_the_word_index_at_start(postgres_url: Callable[[], str]) -> None:
    url = postgres_url()
    store = PostgresStore(url).start()
    store.add([incoming(body="reinvoiced before the upgrade")])
    assert store.wait_indexed()
    store.close()
    with psycopg.connect(url, autocommit=True) as conn:
        undo_to(conn, 2)
    store = PostgresStore(url).start()
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            assert schema_version(url) == SCHEMA_VERSION
            assert conn.execute(
                "SELECT count(*) FROM mailsink_text WHERE words @@ 'reinvoiced'::tsquery"
            ).fetchone() == (1,)
            assert conn.execute(
                "SELECT count(*) FROM mailsink_vocab WHERE word = 'reinvoiced'"
            ).fetchone() == (1,)
        assert store.list(0, 1, parse_query("invoice")).matched == 1
    finally:
        store.close()


def test_version_3_tables_get_the_faster_word_function_with_the_same_words(
    postgres_url: Callable[[], str],
) -> None:
    url = postgres_url()
    store = PostgresStore(url).start()
    store.add([incoming(body=body) for body in WORDY])
    assert store.wait_indexed()
    store.close()
    with psycopg.connect(url, autocommit=True) as conn:
        undo_to(conn, 3)
        before = conn.execute("SELECT id, mailsink_words(search) FROM mailsink_text ORDER BY id")
        words = before.fetchall()
        assert conn.execute(
            "SELECT count(*) FROM mailsink_text, "
            "unnest(tsvector_to_array(mailsink_words(search))) w WHERE length(w) = 64"
        ).fetchone() == (4,), "the run of 146 is four pieces of 64 through the old function"
    store = PostgresStore(url).start()
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            assert schema_version(url) == SCHEMA_VERSION
            body = conn.execute(
                "SELECT prosrc FROM pg_proc WHERE proname = 'mailsink_words'"
            ).fetchone()
            assert body is not None and "regexp_split_to_array" in str(body[0])
            after = conn.execute("SELECT id, mailsink_words(search) FROM mailsink_text ORDER BY id")
            assert after.fetchall() == words
            assert len(words) == len(WORDY)
        store.add([incoming(body="reinvoiced after the upgrade")])
        assert store.wait_indexed()
        assert store.list(0, 10, parse_query("invoice")).matched == 4
    finally:
        store.close()


def _long_items() -> list[Any]:
    """Three long texts: a word past the indexed head, one across it, one in it; and a short one."""
    items = [incoming(body="headword " + "lorem ipsum " * 700 + "tailword final")]
    filler = 2000
    for _ in range(5):  # place "straddleword" across the head's end, whatever comes before it
        item = incoming(body="a " * filler + "straddleword" + " b" * 2500)
        text = search_text(StoredMessage(item.id, item.received, item.envelope, item.summary))
        at = text.index("straddleword")
        if at < TEXT_HEAD < at + len("straddleword"):
            break
        filler += (TEXT_HEAD - 6 - at) // 2
    else:
        raise AssertionError("could not place a word across the head")
    items.append(item)
    items.append(incoming(body="short headword text, no tail"))
    return items


LONG_TERMS = ["headword", "tailword", "straddleword", "addlewo", "word final", "ipsum lorem", "zzz"]


def test_long_texts_are_found_past_and_across_the_indexed_head(
    postgres_url: Callable[[], str],
) -> None:
    store = PostgresStore(postgres_url()).start()
    memory = MemoryStore()
    items = _long_items()
    store.add(items)
    memory.add(items)
    try:
        assert store.wait_indexed()
        with psycopg.connect(store.conninfo, autocommit=True) as conn:
            flags = conn.execute(
                "SELECT long, length(search) <= %s FROM mailsink_text ORDER BY id", (TEXT_HEAD,)
            ).fetchall()
            assert flags == [(True, True), (True, True), (False, True)]  # heads only
            whole = conn.execute("SELECT id FROM mailsink_long_text ORDER BY id").fetchall()
            assert whole == [(items[0].id,), (items[1].id,)]
            assert conn.execute(
                "SELECT count(*) FROM mailsink_text WHERE words @@ 'tailword'::tsquery"
            ).fetchone() == (0,), "only the head's words are indexed"
        for term in LONG_TERMS:
            query = parse_query(term)
            expected = memory.ids(query)
            page = store.list(0, 50, query)
            assert store.ids(query) == [m.id for m in page.items] == expected, term
            assert page.matched == len(expected), term
        assert store.list(0, 50, parse_query("tailword")).matched == 1
        assert store.list(0, 50, parse_query("straddleword")).matched == 1
    finally:
        store.close()


def test_version_4_tables_get_head_indexing_and_keep_finding_long_texts(
    postgres_url: Callable[[], str],
) -> None:
    url = postgres_url()
    store = PostgresStore(url).start()
    items = _long_items()
    store.add(items)
    assert store.wait_indexed()
    store.close()
    with psycopg.connect(url, autocommit=True) as conn:
        undo_to(conn, 4)
        conn.execute("UPDATE mailsink_text SET words = mailsink_words(search)")  # as v4 had
    store = PostgresStore(url).start()
    memory = MemoryStore()
    memory.add(items)
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            assert schema_version(url) == SCHEMA_VERSION
            assert conn.execute("SELECT count(*) FROM mailsink_text WHERE long").fetchone() == (2,)
            index = conn.execute("SELECT pg_get_indexdef('mailsink_text_search'::regclass)")
            definition = str(index.fetchone())
            assert f'"left"(search, {TEXT_HEAD})' in definition, definition
        store.add([incoming(body="after the upgrade " + "dolor sit " * 600 + "latetail")])
        memory.add([incoming(body="unrelated")])
        assert store.wait_indexed()
        for term in [*LONG_TERMS, "latetail"]:
            query = parse_query(term)
            found = store.ids(query)
            if term == "latetail":
                assert len(found) == 1
            else:
                assert found == memory.ids(query), term
    finally:
        store.close()


def test_version_5_tables_compress_new_long_texts_with_lz4(postgres_url: Callable[[], str]) -> None:
    url = postgres_url()
    store = PostgresStore(url).start()
    old = _long_items()[0]
    store.add([old])
    assert store.wait_indexed()
    store.close()
    with psycopg.connect(url, autocommit=True) as conn:
        undo_to(conn, 5)
        conn.execute("UPDATE mailsink_text SET search = search || ''")  # as pglz wrote them
    store = PostgresStore(url).start()
    try:
        new = incoming(body="fresh " + " ".join(f"w{n}" for n in range(20_000)) + " endword")
        store.add([new])
        with psycopg.connect(url, autocommit=True) as conn:
            assert schema_version(url) == SCHEMA_VERSION
            waiting = conn.execute("SELECT pg_column_compression(search) FROM mailsink_text_new")
            assert waiting.fetchall() == [("lz4",)]
        assert store.wait_indexed()
        with psycopg.connect(url, autocommit=True) as conn:
            rows = conn.execute(
                "SELECT id, pg_column_compression(search) FROM mailsink_text ORDER BY id"
            ).fetchall()
        assert rows == [(old.id, "pglz"), (new.id, "lz4")]
        assert store.ids(parse_query("tailword")) == [old.id]  # the old one still reads
        assert store.ids(parse_query("endword")) == [new.id]
    finally:
        store.close()


def test_version_6_tables_keep_long_texts_whole_once_and_index_their_heads(
    postgres_url: Callable[[], str],
) -> None:
    url = postgres_url()
    items = _long_items()
    store = PostgresStore(url).start()
    store.add(items[:2])
    assert store.wait_indexed()
    store.close()
    waiting = PostgresStore(url, text_index=False).start()  # its texts stay in the new table
    waiting.add(items[2:])
    waiting.add([incoming(body="queued " + "tail " * 1200 + "queuedtail")])
    waiting.close()
    with psycopg.connect(url, autocommit=True) as conn:
        undo_to(conn, 6)
        assert conn.execute(
            "SELECT max(length(search)) > %s FROM mailsink_text_new", (TEXT_HEAD,)
        ).fetchone() == (True,)
    store = PostgresStore(url).start()
    memory = MemoryStore()
    memory.add(items)
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            assert schema_version(url) == SCHEMA_VERSION
            assert conn.execute("SELECT count(*) FROM mailsink_long_text").fetchone() == (3,)
        assert store.wait_indexed()
        with psycopg.connect(url, autocommit=True) as conn:
            assert conn.execute(
                "SELECT count(*) FILTER (WHERE long), max(length(search)) FROM mailsink_text"
            ).fetchone() == (3, TEXT_HEAD)
        for term in LONG_TERMS:
            query = parse_query(term)
            assert [i for i in store.ids(query) if i in {m.id for m in items}] == memory.ids(
                query
            ), term
        assert len(store.ids(parse_query("queuedtail"))) == 1
        store.clear()
        with psycopg.connect(url, autocommit=True) as conn:
            assert conn.execute("SELECT count(*) FROM mailsink_long_text").fetchone() == (0,)
    finally:
        store.close()


ADDRESSED = [
    ("user42@example.test", "Re: hello-world"),
    ("user420@example.test", "hello world"),
    ("xuser42@example.test", "re: hello-worldwide"),
    ("user42@example.testing", "HELLO-WORLD"),
    ("User Forty <user42@example.test>, user7@example.test", "about user42@example.test"),
    ("a" * 70 + "user42@example.test", "long-" + "b" * 80 + "-subject"),
]
ADDRESS_TERMS = [
    "to:user42@example.test",
    "to:=user42@example.test",
    "to:user42",
    "to:@example.test",
    "to:42@example.te",
    "to:ser42@exa",
    "addressed:user42@example.test",
    "from:alice@example.test",
    "subject:hello-world",
    'subject:"re: hello"',
    "subject:" + "b" * 40 + "-subject",
    "subject:long-" + "b" * 80,
    "message-id:@example.test",
]


def test_address_and_subject_terms_narrowed_by_words_find_what_the_memory_store_finds(
    postgres_url: Callable[[], str],
) -> None:
    store = PostgresStore(postgres_url()).start()
    memory = MemoryStore()
    # A long text first: its head is indexed, the whole text checked (schema versions 5, 7).
    items = [incoming(to="user42@example.test", subject="hello-world", body="word " * 1000)]
    items += [incoming(to=to, subject=subject) for to, subject in ADDRESSED]
    store.add(items[:4])
    memory.add(items)
    try:
        assert store.wait_indexed()
        store.add(items[4:])  # these two are not indexed yet: the scanned side
        for term in ADDRESS_TERMS:
            query = parse_query(term)
            assert store.ids(query) == memory.ids(query), term
        assert store.wait_indexed()
        for term in ADDRESS_TERMS:
            query = parse_query(term)
            expected = memory.ids(query)
            page = store.list(0, 50, query)
            assert [m.id for m in page.items] == store.ids(query) == expected, term
    finally:
        store.close()


def _long_body(n: int) -> str:
    """Return a 2.5 KB body of varied words: its row is past the size PostgreSQL toasts at."""
    return " ".join(f"w{n}x{i} common" for i in range(250))


def test_version_7_tables_get_narrow_text_rows_with_the_same_texts(
    postgres_url: Callable[[], str],
) -> None:
    url = postgres_url()
    store = PostgresStore(url).start()
    store.add([incoming(body=_long_body(n)) for n in range(300)])
    assert store.wait_indexed()
    store.close()
    with psycopg.connect(url, autocommit=True) as conn:
        undo_to(conn, 7)
        conn.execute("VACUUM mailsink_text")
        texts = conn.execute("SELECT id, search, words FROM mailsink_text ORDER BY id").fetchall()
        compressed = conn.execute(
            "SELECT attcompression FROM pg_attribute "
            "WHERE attrelid = 'mailsink_text'::regclass AND attname = 'search'"
        ).fetchone()
    wide = _pages(url, "mailsink_text")
    store = PostgresStore(url).start()
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            assert schema_version(url) == SCHEMA_VERSION
            after = conn.execute("SELECT id, search, words FROM mailsink_text ORDER BY id")
            assert after.fetchall() == texts
            compression = conn.execute(
                "SELECT attcompression FROM pg_attribute "
                "WHERE attrelid = 'mailsink_text'::regclass AND attname = 'search'"
            ).fetchone()
            # The rewrite (a change of type) resets the column's compression; the upgrade
            # sets version 6's lz4 again after it.
            assert compressed == ("",) and compression == ("l",), (compressed, compression)
        narrow = _pages(url, "mailsink_text")
        assert narrow * 5 <= wide, f"{wide} pages of texts before, {narrow} after"
        assert store.list(0, 10, parse_query("common")).matched == 300
        assert store.list(0, 10, parse_query("w7x249")).matched == 1
        store.add([incoming(body=_long_body(n)) for n in range(300, 600)])
        assert store.wait_indexed()
        assert _pages(url, "mailsink_text") * 5 <= 2 * wide, "new texts' rows are narrow too"
        assert store.list(0, 10, parse_query("common")).matched == 600
    finally:
        store.close()


def test_a_whole_long_text_from_an_older_node_is_kept_whole_when_indexed(
    postgres_url: Callable[[], str],
) -> None:
    url = postgres_url()
    item = _long_items()[0]
    waiting = PostgresStore(url, text_index=False).start()
    waiting.add([item])
    waiting.close()
    with psycopg.connect(url, autocommit=True) as conn:  # as a node of schema 6 writes it
        conn.execute(
            "UPDATE mailsink_text_new t SET search = l.search, long = false "
            "FROM mailsink_long_text l WHERE l.id = t.id"
        )
        conn.execute("DELETE FROM mailsink_long_text")
    store = PostgresStore(url).start()
    try:
        assert store.wait_indexed()
        with psycopg.connect(url, autocommit=True) as conn:
            assert conn.execute("SELECT id FROM mailsink_long_text").fetchall() == [(item.id,)]
            assert conn.execute("SELECT long, length(search) FROM mailsink_text").fetchall() == [
                (True, TEXT_HEAD)
            ]
        assert store.ids(parse_query("tailword")) == [item.id]
    finally:
        store.close()


LONG_RUNS = [
    ("x" * 78 + "\n") * 52,  # many runs past 64
    "a" * 64 + " " + "b" * 65 + " " + "c" * 96 + " " + "d" * 97 + " " + "e" * 200,
    "word " * 20 + "0123456789abcdef" * 8 + " tail",  # one long token among words
    ("ab" * 40 + " ") * 3 + "ab" * 40,  # the same long run again and again: repeated pieces
    "short words only",
    "",
]


def test_version_8_tables_get_the_union_all_word_function_with_the_same_words(
    postgres_url: Callable[[], str],
) -> None:
    """Version 9 gathers a long run's pieces with UNION ALL; every text's words stay the same."""
    url = postgres_url()
    texts = [*WORDY, *LONG_RUNS]
    store = PostgresStore(url).start()
    store.add([incoming(body=body) for body in texts])
    assert store.wait_indexed()
    store.close()
    words_of = (
        "SELECT t, mailsink_words(t) FROM unnest(%s::text[]) WITH ORDINALITY AS u(t, n) ORDER BY n"
    )
    with psycopg.connect(url, autocommit=True) as conn:
        undo_to(conn, 8)
        old = conn.execute(words_of, (texts,)).fetchall()
        stored = conn.execute("SELECT id, words FROM mailsink_text ORDER BY id").fetchall()
    store = PostgresStore(url).start()
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            assert schema_version(url) == SCHEMA_VERSION
            body = conn.execute(
                "SELECT prosrc FROM pg_proc WHERE proname = 'mailsink_words'"
            ).fetchone()
            assert body is not None and "UNION ALL" in str(body[0])
            assert conn.execute(words_of, (texts,)).fetchall() == old
            assert (
                conn.execute("SELECT id, words FROM mailsink_text ORDER BY id").fetchall() == stored
            )
        store.add([incoming(body="needle" + "q" * 80)])
        assert store.wait_indexed()
        assert store.list(0, 10, parse_query("needleqqq")).matched == 1
        assert store.list(0, 10, parse_query("xneedley")).matched == 1
    finally:
        store.close()
