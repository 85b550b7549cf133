"""The SQLite store's shortcuts for a million messages give the answers of the plain way (issue 19).

Small stores, the real thing: deep pages by seq range equal the OFFSET
pages whatever was deleted, tag counts are what ``tag:`` finds.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from helpers import incoming
from mailsink.search import parse_query
from mailsink.store import SQLiteStore
from mailsink.store.sqlite import words


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SQLiteStore]:
    """Return an open store of 60 messages (closed after the test)."""
    opened = SQLiteStore(tmp_path / "m.db")
    opened.add([incoming(subject=f"message {n} {'even' if n % 2 else 'odd'}") for n in range(60)])
    yield opened
    opened.close()


def _pages_agree(store: SQLiteStore) -> None:
    """Assert that every page of the listing is the matching slice of ids()."""
    everything = store.ids()
    for start in (0, 1, 7, 25, len(everything) - 3, len(everything), len(everything) + 5):
        for limit in (1, 10, 50):
            page = store.list(start, limit)
            assert [m.id for m in page.items] == everything[start : start + limit], (start, limit)
            assert (page.total, page.matched) == (len(everything), len(everything))


def test_deep_pages_equal_the_offset_pages_while_seqs_are_dense(store: SQLiteStore) -> None:
    _pages_agree(store)


def test_deep_pages_stay_right_after_deletes_leave_holes(store: SQLiteStore) -> None:
    everything = store.ids()
    store.delete([everything[5], everything[30]])  # holes in the middle: OFFSET pages
    _pages_agree(store)
    store.delete(store.ids()[-4:])  # the oldest: holes remain
    _pages_agree(store)


def test_deep_pages_stay_right_after_the_oldest_or_newest_go(store: SQLiteStore) -> None:
    store.delete(store.ids()[-10:])
    store.delete(store.ids()[:3])
    _pages_agree(store)
    store.add([incoming(subject="later")])
    _pages_agree(store)


def test_deep_pages_stay_right_when_pruning(tmp_path: Path) -> None:
    pruned = SQLiteStore(tmp_path / "p.db", max_messages=20)
    for n in range(5):
        pruned.add([incoming(subject=f"batch {n} #{i}") for i in range(9)])
    assert pruned.count() == 20
    _pages_agree(pruned)
    pruned.close()


def test_a_reopened_store_with_holes_pages_right(tmp_path: Path) -> None:
    path = tmp_path / "r.db"
    first = SQLiteStore(path)
    first.add([incoming(subject=f"m{n}") for n in range(30)])
    first.delete([first.ids()[10]])
    first.close()
    reopened = SQLiteStore(path)
    _pages_agree(reopened)
    reopened.close()


def test_tag_counts_are_what_a_tag_search_finds(store: SQLiteStore) -> None:
    ids = store.ids()
    store.set_tags(ids[:10], ["Invoice", "urgent"])
    store.set_tags(ids[10:15], ["invoice"])
    store.set_tags(ids[15:16], ["Zeta"])
    counts = store.tag_counts()
    assert list(counts) == store.tags()
    for tag, count in counts.items():
        assert count == store.list(0, 0, parse_query(f"tag:{tag}")).matched
    assert {k.lower(): v for k, v in counts.items()} == {"invoice": 15, "urgent": 10, "zeta": 1}


def _wait_for(condition: Callable[[], bool], seconds: float = 20.0) -> bool:
    """Poll ``condition`` until it holds or ``seconds`` pass; tell whether it held."""
    until = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > until:
            return False
        time.sleep(0.05)
    return True


def test_delete_all_gives_the_disk_space_back(tmp_path: Path) -> None:
    path = tmp_path / "big.db"
    store = SQLiteStore(path).start()
    words = " ".join(f"word{n}" for n in range(2_000))
    for batch in range(4):
        store.add([incoming(subject=f"b{batch} m{n}", body=words) for n in range(100)])
    assert store.wait_indexed(30)
    full = store.disk_usage()
    assert full > 1_000_000
    assert store.clear() == 400
    # The freed pages are cut off, not zeroed through the WAL: every file shrinks.
    assert _wait_for(lambda: store.disk_usage() < 400_000), store.disk_usage()
    assert path.stat().st_size < 200_000
    later = incoming(subject="after the clear", body="word7 again")
    store.add([later])
    assert store.wait_indexed(30)
    assert store.ids(parse_query("word7")) == [later.id]
    assert store.list(0, 5).items[0].id == later.id
    store.close()


def test_subject_and_message_id_searches_narrowed_by_the_index_miss_nothing(
    tmp_path: Path,
) -> None:
    store = SQLiteStore(tmp_path / "n.db").start()
    index = store.text_index
    assert index is not None
    report = incoming(subject="Quarterly Report", body="numbers")
    body_only = incoming(subject="minutes", body="the quarterly report is late")
    long = incoming(subject="Giraffe tales", body="savanna " * 2_000)  # past the indexed head
    store.add([report, body_only, long])
    assert store.wait_indexed()
    with index.hold():  # not indexed yet: found by the scan of new rows
        late = incoming(subject="giraffe, late", body="x")
        store.add([late])
        assert store.ids(parse_query("subject:giraffe")) == [late.id, long.id]
        assert store.ids(parse_query("subject:report")) == [report.id]
        assert store.ids(parse_query("subject:zzznothinghere")) == []
        assert store.ids(parse_query("subject:ta")) == [long.id]  # too short to look up
    assert store.wait_indexed()
    assert store.ids(parse_query("subject:giraffe")) == [late.id, long.id]
    message_id = report.summary.message_id.lower()
    assert store.ids(parse_query(f"message-id:{message_id[1:-1]}")) == [report.id]
    store.close()


def test_deleted_and_pruned_messages_leave_the_contentless_index(tmp_path: Path) -> None:
    path = tmp_path / "i.db"
    store = SQLiteStore(path, max_messages=6).start()
    messages = [incoming(subject=f"m{n}", body=f"ocelot{n} " + "prey " * 50) for n in range(10)]
    store.add(messages[:6])
    assert store.wait_indexed()
    store.delete([messages[1].id, messages[4].id])
    store.add(messages[6:])  # 8 would be stored: the two oldest left are pruned

    def index_rows() -> int:
        with sqlite3.connect(f"{path}-index") as index:
            return int(index.execute("SELECT count(*) FROM fts_docsize").fetchone()[0])

    assert store.wait_indexed()
    assert _wait_for(lambda: index_rows() == store.count()), (index_rows(), store.count())
    kept = [messages[n].id for n in (9, 8, 7, 6, 5, 3)]
    assert store.ids(parse_query("ocelot")) == kept
    assert store.ids(parse_query("ocelot1")) == []
    store.close()


def test_big_messages_are_kept_uncompressed_and_read_back_byte_exact(tmp_path: Path) -> None:
    """Past PACK_LIMIT zlib costs milliseconds on the SMTP loop for a quarter of the bytes."""
    from mailsink.store.sqlite.packing import PACK_LIMIT

    store = SQLiteStore(tmp_path / "m.db")
    try:
        small = incoming(subject="small zebra")
        filler = "".join(f"{n:08x}" for n in range(PACK_LIMIT // 8))
        big = incoming(subject="big quagga", body="quagga " + filler)
        assert len(big.raw) > PACK_LIMIT
        store.add([small, big])
        packed = dict(store._reader.execute("SELECT id, packed FROM messages").fetchall())
        assert packed[small.id] is not None and packed[big.id] is None
        assert store.raw(small.id) == small.raw and store.raw(big.id) == big.raw
        for word, expected in (("zebra", small.id), ("quagga", big.id)):
            assert [m.id for m in store.list(0, 10, parse_query(word)).items] == [expected]
    finally:
        store.close()


def test_a_search_asks_the_index_for_the_rare_runs_and_finds_the_same(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "g.db").start()
    # "example.test" is in every message, "u42" in two, one of them inside a longer word.
    messages = [
        incoming(subject=f"note {n}", body=f"see example.test {'u42x' if n == 80 else ''}")
        for n in range(200)
    ]
    messages[150] = incoming(subject="note 150", body="mail u42 at example.test")
    store.add(messages)
    assert store.wait_indexed()
    reader = store._reader  # the connection searches use, the index attached
    chosen = words.rows_of(reader, "u42 at example.test")
    assert chosen is not None and not chosen.exact
    assert '"u42"' in chosen.params and '"example"' not in chosen.params
    assert words.rows_of(reader, "example.test")  # all common: still some
    # Two runs too short to look up: the punctuation between them is a token of its own.
    joined = words.rows_of(reader, "e.t")
    assert joined is not None and f'"{words.joint("e", ".", "t")}"' in joined.params
    assert store.ids(parse_query("e.t")) == store.ids()
    assert store.ids(parse_query('"u42 at example.test"')) == [messages[150].id]
    assert store.ids(parse_query("u42")) == [messages[150].id, messages[80].id]
    assert store.ids(parse_query("subject:note -example.test")) == []
    store.close()


def test_a_one_word_term_is_answered_by_the_index_without_reading_a_text(tmp_path: Path) -> None:
    db = tmp_path / "w.db"
    store = SQLiteStore(db).start()
    hit = incoming(subject="plain", body="the quarterlyreport is late")
    # More words hold "okka" than one FTS5 query asks for: looked up word by word.
    many = [incoming(subject="plain", body=f"a quokka{n}s") for n in range(words.MAX_WORDS + 6)]
    store.add([hit, incoming(subject="plain", body="nothing here"), *many])
    assert store.wait_indexed()
    for segment in Path(f"{db}-blobs").glob("*.seg"):  # spoil every stored text
        segment.write_bytes(b"\0" * segment.stat().st_size)
    assert store.ids(parse_query("quarterlyreport")) == [hit.id]
    assert store.ids(parse_query("terlyrep")) == [hit.id]  # a piece of the word
    assert store.list(0, 10, parse_query("quarterlyreport")).matched == 1
    assert store.ids(parse_query("okka")) == [m.id for m in reversed(many)]
    # Two runs are candidates checked against the text, which no longer reads.
    assert store.ids(parse_query('"quarterlyreport is"')) == []
    store.close()


def test_word_index_searches_find_what_a_scan_finds(tmp_path: Path) -> None:
    """Pieces, prefixes and suffixes of words, punctuation, non-ASCII, past the head, deletes."""
    bodies = [
        "Übergrößen im Ärger-Fall, İstanbul",
        "gone soon: ocelotprey",
        "see foo.bar-baz and foo.barn",
        "x" * 4090 + " tailword straddle" + "d" * 10 + " pastthehead",
        "the quarterlyreport is late; user42@example.test wrote",
        "quarterly report, split: user420@example.tester",
        "before a nul\x00nulword after it",
    ]
    messages = [incoming(subject=f"m{n}", body=body) for n, body in enumerate(bodies)]
    indexed = SQLiteStore(tmp_path / "i.db").start()
    scanned = SQLiteStore(tmp_path / "s.db", text_index=False).start()
    for store in (indexed, scanned):
        store.add(messages)
        store.delete([messages[1].id])
    assert indexed.wait_indexed()
    terms = [
        "größe", "übergr", "ößen", "rger-fa", "i̇stan", "stanbul", "foo.bar", "o.ba", "oo.bar-ba",
        ".bar", "bar-", "-baz", "foo.barn", "tailword", "straddled", "ddd pastthe", "pastthehead",
        "quarterlyreport", "terlyrep", "report is", "quarterly report", "user42@example.test",
        "user42", "r42@exa", "example.test", "e.t", "ocelot", "prey", "zzznothing", "nulword",
        "after it",
    ]  # fmt: skip
    for term in terms:
        for text in (term, f'"{term}"', f"subject:m to:{term}"):
            query = parse_query(text)
            assert indexed.ids(query) == scanned.ids(query), text
    assert indexed.ids(parse_query("größe")) == [messages[0].id]
    assert indexed.ids(parse_query("ddd pastthe")) == [messages[3].id]
    indexed.close()
    scanned.close()


def test_the_vocabulary_drops_the_words_of_messages_gone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mailsink.store.sqlite import text_index

    monkeypatch.setattr(text_index, "SWEEP_AFTER", 4)  # sweep after every few deletes
    path = tmp_path / "v.db"
    store = SQLiteStore(path, max_messages=5).start()
    messages = [incoming(subject=f"m{n}", body=f"kept word{n}x here") for n in range(12)]
    for message in messages:
        store.add([message])
        assert store.wait_indexed()

    def vocab() -> set[str]:
        with sqlite3.connect(f"{path}-index") as index:
            return {w for (w,) in index.execute("SELECT word FROM vocab")}

    assert _wait_for(lambda: "word0x" not in vocab()), sorted(vocab())
    assert {f"word{n}x" for n in range(7, 12)} <= vocab()
    assert store.ids(parse_query("ord1")) == [messages[11].id, messages[10].id]
    assert store.ids(parse_query("kept")) == [m.id for m in reversed(messages[7:])]
    store.close()
