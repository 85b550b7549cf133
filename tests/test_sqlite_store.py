"""SQLite-only behaviour: failed writes roll back whole, and a file reopens intact."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from helpers import incoming, incompressible
from mailsink.search import parse_query
from mailsink.store import SQLiteStore
from mailsink.store.base import Incoming
from mailsink.store.sqlite import store as sqlite_store
from mailsink.store.sqlite import text_index


def test_a_failed_batch_is_rolled_back_whole_and_counts_stay_right(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "m.db")
    first = incoming(subject="kept")
    store.add([first])
    clash = incoming(subject="never stored")
    duplicate = incoming(subject="duplicate ID")
    duplicate = type(duplicate)(first.id, duplicate.received, duplicate.raw, duplicate.envelope,
                                duplicate.summary)  # fmt: skip
    with pytest.raises(sqlite3.IntegrityError):
        store.add([clash, duplicate])
    assert (store.count(), store.unread()) == (1, 1)
    assert store.get(clash.id) is None
    assert store.ids(parse_query("never")) == []
    later = incoming(subject="after the failure")
    store.add([later])
    assert store.ids() == [later.id, first.id]
    store.close()


def test_a_reopened_file_keeps_messages_flags_and_counts(tmp_path: Path) -> None:
    path = tmp_path / "m.db"
    store = SQLiteStore(path)
    a, b = incoming(subject="alpha"), incoming(subject="beta")
    store.add([a, b])
    store.set_read([a.id], True)
    store.set_tags([b.id], ["kept"])
    store.close()
    reopened = SQLiteStore(path)
    assert (reopened.count(), reopened.unread()) == (2, 1)
    assert reopened.get(a.id).read is True  # type: ignore[union-attr]
    assert reopened.ids(parse_query("tag:kept")) == [b.id]
    assert reopened.raw(b.id) == b.raw
    reopened.close()


def _segment_files(db: Path) -> list[str]:
    return sorted(p.name for p in Path(f"{db}-blobs").glob("*.seg"))


def _indexed_file(tmp_path: Path, messages: list[Incoming]) -> Path:
    """Store messages in a new SQLite file, wait until they are indexed, close it."""
    db = tmp_path / "m.db"
    store = SQLiteStore(db).start()
    store.add(messages)
    assert store.wait_indexed()
    store.close()
    return db


def test_message_bytes_live_in_segments_that_go_when_no_message_needs_them(
    tmp_path: Path,
) -> None:
    db = tmp_path / "m.db"
    store = SQLiteStore(db, segment_bytes=1)  # every batch starts a new segment
    first, second, third = (incoming(subject=f"m{n}") for n in range(3))
    for message in (first, second, third):
        store.add([message])
    assert len(_segment_files(db)) == 3
    store.delete([first.id])
    assert len(_segment_files(db)) == 2
    assert store.raw(first.id) is None
    assert (store.raw(second.id), store.raw(third.id)) == (second.raw, third.raw)
    store.close()
    reopened = SQLiteStore(db, segment_bytes=1)
    assert reopened.raw(third.id) == third.raw
    reopened.close()


def test_segments_no_message_refers_to_are_removed_at_open(tmp_path: Path) -> None:
    db = tmp_path / "m.db"
    store = SQLiteStore(db)
    kept = incoming(subject="kept")
    store.add([kept])
    store.close()
    stray = Path(f"{db}-blobs") / "00000099.seg"
    stray.write_bytes(b"left by a crash between the write and the commit")
    reopened = SQLiteStore(db)
    assert not stray.exists()
    assert reopened.raw(kept.id) == kept.raw
    reopened.close()


def test_pruning_removes_the_oldest_segments(tmp_path: Path) -> None:
    db = tmp_path / "m.db"
    store = SQLiteStore(db, max_messages=2, segment_bytes=1)
    messages = [incoming(subject=f"m{n}") for n in range(5)]
    for message in messages:
        store.add([message])
    assert len(_segment_files(db)) == 2
    assert [store.raw(m.id) for m in messages[3:]] == [m.raw for m in messages[3:]]
    store.close()


def test_delete_all_removes_the_bytes_and_new_messages_are_searched_afresh(
    tmp_path: Path,
) -> None:
    db = tmp_path / "m.db"
    store = SQLiteStore(db).start()
    store.add([incoming(subject="old news", body="walrus carpenter oysters")])
    assert store.wait_indexed()
    store.clear()
    assert _segment_files(db) == []
    fresh = incoming(subject="fresh", body="nothing about the sea")
    store.add([fresh])
    assert store.wait_indexed()
    assert store.ids(parse_query("walrus")) == []
    assert store.ids(parse_query("about the sea")) == [fresh.id]
    store.close()


def test_a_missing_index_is_rebuilt_and_searches_meanwhile_still_find(tmp_path: Path) -> None:
    messages = [incoming(subject=f"note {n}", body=f"pangolin number-{n:02d}") for n in range(20)]
    db = _indexed_file(tmp_path, messages)
    for suffix in ("-index", "-index-wal", "-index-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    reopened = SQLiteStore(db).start()
    assert len(reopened.ids(parse_query("pangolin"))) == 20
    assert reopened.wait_indexed()
    index = reopened.text_index
    assert index is not None and index.upto == 20
    assert reopened.ids(parse_query("number-07")) == [messages[7].id]
    reopened.close()


def test_an_index_ahead_of_the_messages_is_rebuilt_not_trusted(tmp_path: Path) -> None:
    """A database rolled back under its index (power loss, a restored backup) would let
    old index rows match new messages with the same seq; the index must be rebuilt."""
    db = _indexed_file(tmp_path, [incoming(subject="old", body="okapi") for _ in range(3)])
    with sqlite3.connect(db) as conn:
        conn.execute("DELETE FROM messages")
        conn.execute("UPDATE sqlite_sequence SET seq = 0")
    reopened = SQLiteStore(db).start()
    new = incoming(subject="new", body="giraffe")
    reopened.add([new])
    assert reopened.wait_indexed()
    assert reopened.ids(parse_query("okapi")) == []
    assert reopened.ids(parse_query("giraffe")) == [new.id]
    reopened.close()


def test_full_sync_store_keeps_bytes(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "m.db", synchronous="full")
    message = incoming(subject="synced")
    store.add([message])
    assert store.raw(message.id) == message.raw
    store.close()


def test_a_file_of_another_schema_version_is_refused_with_a_reason(tmp_path: Path) -> None:
    db = tmp_path / "old.db"
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA user_version = 1")
    with pytest.raises(RuntimeError, match=r"version 1 is not supported.*move the file aside"):
        SQLiteStore(db)


def test_a_segment_deletes_leave_mostly_empty_is_compacted(tmp_path: Path) -> None:
    db = tmp_path / "m.db"
    store = SQLiteStore(db, segment_bytes=4000).start()  # about three of these messages a segment
    messages = [
        incoming(subject=f"m{n}", body=f"walrus-{n:02d} " + incompressible(n)) for n in range(9)
    ]
    for message in messages:
        store.add([message])
    first_segment = _segment_files(db)[0]
    store.delete([messages[0].id, messages[1].id])  # two of the first segment's three
    assert first_segment in _segment_files(db)  # kept a few seconds for older snapshots
    survivor = messages[2]
    assert store.raw(survivor.id) == survivor.raw
    assert store.ids(parse_query("walrus-02")) == [survivor.id]
    assert store.wait_indexed()
    assert store.ids(parse_query("walrus-02")) == [survivor.id]
    store.close()  # the old file stays a few seconds for older readers, or until close
    assert first_segment not in _segment_files(db)
    reopened = SQLiteStore(db, segment_bytes=4000)
    assert [reopened.raw(m.id) for m in messages[2:]] == [m.raw for m in messages[2:]]
    assert reopened.count() == 7
    reopened.close()


def test_pruning_never_compacts(tmp_path: Path) -> None:
    """Oldest-first pruning empties segments by itself; copying their rest would be waste."""
    db = tmp_path / "m.db"
    store = SQLiteStore(db, max_messages=4, segment_bytes=4000)  # three messages a segment
    messages = [incoming(subject=f"m{n}", body=incompressible(n)) for n in range(9)]
    for message in messages:
        store.add([message])
    assert store.ids() == [m.id for m in reversed(messages[5:])]
    assert [store.raw(m.id) for m in messages[5:]] == [m.raw for m in messages[5:]]
    # The first segment went whole; the second keeps one live message of three and
    # stays where it is (compacted, it would have been copied into the third).
    assert len(_segment_files(db)) == 2
    store.close()


def test_readers_never_miss_a_message_while_its_segment_is_compacted(tmp_path: Path) -> None:
    db = tmp_path / "m.db"
    store = SQLiteStore(db, segment_bytes=4000)
    messages = [incoming(subject=f"m{n}", body="y" * 600) for n in range(60)]
    for message in messages:
        store.add([message])
    survivors = messages[2::3]  # one in three stays: every old segment gets compacted
    misses: list[str] = []
    done = threading.Event()

    def read() -> None:
        while not done.is_set():
            misses.extend(m.id for m in survivors if store.raw(m.id) != m.raw)

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for n, message in enumerate(messages):
            if n % 3 != 2:
                store.delete([message.id])
    finally:
        done.set()
        reader.join()
    assert misses == []
    store.close()
    assert len(_segment_files(db)) < 60 // 3


def test_an_index_of_another_version_is_rebuilt(tmp_path: Path) -> None:
    message = incoming(subject="kept", body="narwhal")
    db = _indexed_file(tmp_path, [message])
    with sqlite3.connect(f"{db}-index") as index:
        index.execute("PRAGMA user_version = 1")
        index.execute("DROP TABLE fts")  # a stale index that would miss the message
    reopened = SQLiteStore(db).start()
    assert reopened.wait_indexed()
    assert reopened.ids(parse_query("narwhal")) == [message.id]
    with sqlite3.connect(f"{db}-index") as index:
        assert index.execute("PRAGMA user_version").fetchone()[0] == text_index.INDEX_VERSION
    reopened.close()


def test_a_damaged_index_is_rebuilt(tmp_path: Path) -> None:
    message = incoming(subject="kept", body="axolotl")
    db = _indexed_file(tmp_path, [message])
    for suffix in ("-index-wal", "-index-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    Path(f"{db}-index").write_bytes(b"this is not a database file" * 200)
    reopened = SQLiteStore(db).start()
    assert reopened.wait_indexed()
    assert reopened.ids(parse_query("axolotl")) == [message.id]
    reopened.close()


def test_messages_compacted_between_the_index_select_and_read_are_still_indexed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The index thread lists new rows, then reads their text; a compaction in between
    moves the text.  Skipping those rows would leave them unindexed below ``upto``,
    where searches take them for indexed and miss them."""
    monkeypatch.setattr(sqlite_store, "COMPACTED_GRACE", 0.0)  # the old file goes at once
    db = tmp_path / "m.db"
    store = SQLiteStore(db, segment_bytes=4000).start()
    index = store.text_index
    assert index is not None
    messages = [
        incoming(subject=f"m{n}", body=f"quokka-{n:02d} " + incompressible(n)) for n in range(9)
    ]
    with index.hold():
        for message in messages:
            store.add([message])
        with sqlite3.connect(db) as conn:  # what the index thread's SELECT saw
            listed = conn.execute(
                f"SELECT {text_index.LISTED} FROM messages ORDER BY seq"
            ).fetchall()
        store.delete([messages[0].id, messages[1].id])  # compacts the first segment
        heads = dict(index._read_heads([list(row) for row in listed]))
    assert sorted(heads) == list(range(3, 10))  # the deleted two are left out
    assert "quokka-02" in heads[3]  # the compacted one is read from its new place
    store.close()


def test_uids_and_uid_validity_survive_a_reopen(tmp_path: Path) -> None:
    path = tmp_path / "mail.db"
    store = SQLiteStore(path)
    store.add([incoming(subject=f"m{i}") for i in range(3)])
    store.delete([store.uids()[1][1]])
    before, validity = store.uids(), store.uid_validity()
    store.close()
    reopened = SQLiteStore(path)
    try:
        assert reopened.uids() == before
        assert reopened.uid_validity() == validity
    finally:
        reopened.close()
