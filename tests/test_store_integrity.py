"""One process per SQLite store, read-only second readers, and checked blob reads (issue 11.1)."""

from __future__ import annotations

import json
import smtplib
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import zlib
from pathlib import Path

import pytest

from helpers import incoming, incompressible, make_raw
from mailsink.message import Envelope
from mailsink.search import parse_query
from mailsink.store import MemoryStore, SQLiteStore
from mailsink.store.base import CorruptMessageError, Incoming
from mailsink.store.sqlite import meta
from mailsink.store.sqlite import store as sqlite_store
from mailsink.store.sqlite.lock import StoreInUseError
from procs import Running, start_mailsink


def stop(running: Running) -> None:
    """End a started mailsink and wait for it."""
    running.process.terminate()
    running.process.communicate(timeout=30)


def test_a_second_store_on_a_file_in_use_is_refused(tmp_path: Path) -> None:
    first = SQLiteStore(tmp_path / "m.db")
    with pytest.raises(StoreInUseError, match=r"m\.db is in use by process \d+"):
        SQLiteStore(tmp_path / "m.db")
    first.close()
    again = SQLiteStore(tmp_path / "m.db")  # the lock went with the store
    again.close()


def test_two_processes_never_share_a_store(tmp_path: Path) -> None:
    """The attack: A and B on one file, mail to A, B, A; A's third message read back B's bytes."""
    db = tmp_path / "mail.db"
    a = start_mailsink("--smtp", "127.0.0.1:0", "--http", "127.0.0.1:0", "--store", str(db))
    try:
        b = start_mailsink_refused(db)
        assert b.returncode == 1
        assert "in use by process" in b.stderr and str(db) in b.stderr
        for n in range(3):
            with smtplib.SMTP(*a.smtp) as client:
                client.sendmail("x@example.test", ["y@example.test"], make_raw(subject=f"A{n}"))
        assert a.web_url is not None
        with urllib.request.urlopen(f"{a.web_url}/api/v1/messages") as reply:
            assert b'"A2"' in reply.read()
    finally:
        stop(a)


def start_mailsink_refused(db: Path) -> subprocess.CompletedProcess[str]:
    """Run a second mailsink on the store and return its finished process."""
    return subprocess.run(
        [sys.executable, "-m", "mailsink", "--smtp", "127.0.0.1:0", "--http", "none",
         "--store", str(db)],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip


def test_a_read_only_reader_of_a_live_store_corrupts_nothing(tmp_path: Path) -> None:
    db = tmp_path / "m.db"
    writer = SQLiteStore(db).start()
    first = incoming(subject="first")
    writer.add([first])
    segments = sorted(Path(f"{db}-blobs").iterdir())
    reader = SQLiteStore(db, read_only=True).start()
    assert reader.raw(first.id) == first.raw
    with pytest.raises(PermissionError):
        reader.add([incoming()])
    with pytest.raises(PermissionError):
        reader.delete([first.id])
    second = incoming(subject="second")
    writer.add([second])
    assert reader.raw(second.id) == second.raw  # it sees what the writer commits
    reader.close()
    assert sorted(Path(f"{db}-blobs").iterdir()) == segments
    assert writer.raw(first.id) == first.raw and writer.raw(second.id) == second.raw
    with pytest.raises(StoreInUseError):  # the reader never took (or dropped) the lock
        SQLiteStore(db)
    third = incoming(subject="third")
    writer.add([third])
    assert writer.raw(third.id) == third.raw
    writer.close()


def _flip_a_byte(db: Path, message_id: str) -> None:
    conn = sqlite3.connect(db)
    segment, offset, size = conn.execute(
        "SELECT segment, raw_offset, coalesce(packed, raw_size) FROM messages WHERE id = ?",
        (message_id,),
    ).fetchone()
    conn.close()
    path = Path(f"{db}-blobs") / f"{segment:08d}.seg"
    data = bytearray(path.read_bytes())
    data[offset + size // 2] ^= 0x20
    path.write_bytes(bytes(data))


def test_corrupted_bytes_are_reported_as_corrupted_never_served(tmp_path: Path) -> None:
    db = tmp_path / "m.db"
    store = SQLiteStore(db)
    good, bad = incoming(subject="good"), incoming(subject="bad")
    store.add([good, bad])
    _flip_a_byte(db, bad.id)
    with pytest.raises(CorruptMessageError, match=r"checksum|decompress"):
        store.raw(bad.id)
    assert store.raw(good.id) == good.raw
    store.close()


def test_bytes_cut_short_are_reported_as_corrupted(tmp_path: Path) -> None:
    db = tmp_path / "m.db"
    store = SQLiteStore(db)
    message = incoming()
    store.add([message])
    segment = next(Path(f"{db}-blobs").iterdir())
    segment.write_bytes(segment.read_bytes()[:10])
    store.close()
    store = SQLiteStore(db)
    with pytest.raises(CorruptMessageError, match="missing"):
        store.raw(message.id)
    store.close()


def test_the_api_answers_a_corrupted_message_with_an_error_not_its_bytes(
    tmp_path: Path,
) -> None:
    db = tmp_path / "mail.db"
    proc = start_mailsink("--smtp", "127.0.0.1:0", "--http", "127.0.0.1:0", "--store", str(db))
    try:
        raw = make_raw(subject="to be damaged", body="x" * 2000)
        with smtplib.SMTP(*proc.smtp) as client:
            client.sendmail("x@example.test", ["y@example.test"], raw)
        assert proc.web_url is not None
        with urllib.request.urlopen(f"{proc.web_url}/api/v1/messages") as response:
            message_id = json.load(response)["messages"][0]["ID"]
        _flip_a_byte(db, message_id)
        with pytest.raises(urllib.error.HTTPError) as failure:
            urllib.request.urlopen(f"{proc.web_url}/api/v1/message/{message_id}/raw")
        assert failure.value.code == 500
        assert b"corrupted" in failure.value.read()
    finally:
        stop(proc)


def _unpack_meta(conn: sqlite3.Connection) -> None:
    """Write each row's envelope and summary back as JSON text, as before version 5."""
    rows = conn.execute("SELECT seq, envelope, summary FROM messages").fetchall()
    for seq, envelope, summary in rows:
        conn.execute(
            "UPDATE messages SET envelope = ?, summary = ? WHERE seq = ?",
            (
                meta.unpack(envelope, meta.ENVELOPE_DICT),
                meta.unpack(summary, meta.SUMMARY_DICT),
                seq,
            ),
        )


def _make_legacy(db: Path, version: int) -> None:
    """Turn a closed store into a file of an older schema version, bytes laid out as it had them.

    Before version 5 the envelope and summary were JSON text; before version 4
    a segment held each message's raw bytes and then its search text,
    uncompressed (``packed`` NULL); version 2 had no ``raw_crc``.
    """
    conn = sqlite3.connect(db)
    _unpack_meta(conn)
    if version == 4:
        conn.execute("PRAGMA user_version = 4")
        conn.commit()
        conn.close()
        return
    rows = conn.execute("SELECT seq, segment, raw_offset, packed FROM messages").fetchall()
    for seq, segment, offset, packed in rows:
        path = Path(f"{db}-blobs") / f"{segment:08d}.seg"
        data = path.read_bytes()
        plain = zlib.decompress(data[offset : offset + packed])
        with path.open("ab") as out:
            out.write(plain)
        conn.execute("UPDATE messages SET raw_offset = ? WHERE seq = ?", (len(data), seq))
    conn.commit()
    conn.execute("DROP INDEX messages_segment")
    conn.execute("ALTER TABLE messages DROP COLUMN packed")
    if version == 2:
        conn.execute("ALTER TABLE messages DROP COLUMN raw_crc")
    conn.execute(f"PRAGMA user_version = {version}")
    conn.commit()
    conn.close()


def test_a_version_3_file_keeps_its_uncompressed_messages_readable_and_searchable(
    tmp_path: Path,
) -> None:
    db = tmp_path / "m.db"
    store = SQLiteStore(db)
    old = [incoming(subject=f"old {n}", body=f"pelican{n} " + "words " * 300) for n in range(3)]
    store.add(old)
    store.close()
    _make_legacy(db, 3)
    Path(f"{db}-index").unlink()  # rebuilt from the old layout's texts
    store = SQLiteStore(db).start()
    new = incoming(subject="new", body="pelican9 compressed")
    store.add([new])
    assert store.wait_indexed()
    assert [store.raw(m.id) for m in old] == [m.raw for m in old]
    assert store.ids(parse_query("pelican1")) == [old[1].id]
    assert store.ids(parse_query("pelican")) == [new.id, *(m.id for m in reversed(old))]
    store.delete([old[0].id])  # leaves the index by its uncompressed text
    assert store.wait_indexed()
    assert store.ids(parse_query("pelican")) == [new.id, old[2].id, old[1].id]
    store.close()


def test_a_version_4_file_keeps_its_json_rows_and_compresses_the_new_ones(tmp_path: Path) -> None:
    db = tmp_path / "m.db"
    store = SQLiteStore(db)
    old = incoming(subject="from version 4", rcpts=("old@example.test",))
    store.add([old])
    store.close()
    _make_legacy(db, 4)
    store = SQLiteStore(db)
    new = incoming(subject="version 5", rcpts=("new@example.test",))
    store.add([new])
    for message in (old, new):
        got = store.get(message.id)
        assert got is not None
        assert (got.summary.subject, got.envelope) == (message.summary.subject, message.envelope)
    assert store.ids(parse_query("subject:version")) == [new.id, old.id]
    store.close()
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == sqlite_store.SCHEMA_VERSION == 5
    kinds = dict(
        conn.execute("SELECT id, typeof(summary) || ' ' || typeof(envelope) FROM messages")
    )
    conn.close()
    assert kinds == {old.id: "text text", new.id: "blob blob"}


def test_an_envelope_utf8_cannot_encode_is_refused_as_the_memory_store_refuses_it(
    tmp_path: Path,
) -> None:
    store = SQLiteStore(tmp_path / "m.db")
    eight_bit = incoming(subject="8-bit sender")
    poison = Incoming(
        eight_bit.id,
        eight_bit.received,
        eight_bit.raw,
        Envelope("\udcff@x.test", ("b@x.test",)),  # what an 8-bit MAIL FROM decodes to
        eight_bit.summary,
    )
    with pytest.raises(UnicodeEncodeError):
        store.add([poison])
    with pytest.raises(UnicodeEncodeError):
        MemoryStore().add([poison])
    assert store.count() == 0
    store.close()


def test_a_damaged_summary_is_an_error_not_a_wrong_message(tmp_path: Path) -> None:
    db = tmp_path / "m.db"
    store = SQLiteStore(db)
    message = incoming(subject="intact")
    store.add([message])
    store.close()
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE messages SET summary = x'00ffee'")
    store = SQLiteStore(db)
    with pytest.raises(meta.MetaError):
        store.get(message.id)
    store.close()


def test_a_version_2_file_is_brought_forward_and_its_messages_still_read(
    tmp_path: Path,
) -> None:
    db = tmp_path / "m.db"
    store = SQLiteStore(db)
    old = incoming(subject="from version 2")
    store.add([old])
    store.close()
    _make_legacy(db, 2)
    store = SQLiteStore(db)
    assert store.raw(old.id) == old.raw
    new = incoming(subject="version 3")
    store.add([new])
    store.close()
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == sqlite_store.SCHEMA_VERSION
    crcs = dict(conn.execute("SELECT id, raw_crc FROM messages"))
    conn.close()
    assert crcs[old.id] is None and isinstance(crcs[new.id], int)


def test_deleting_the_index_while_running_rebuilds_it_and_searches_never_fail(
    tmp_path: Path,
) -> None:
    """The attack (issue 11.7): after deleting PATH-index every free-text search was a 500."""
    from mailsink.search import parse_query

    db = tmp_path / "m.db"
    store = SQLiteStore(db).start()
    messages = [incoming(subject=f"needle{n % 2} haystack") for n in range(20)]
    store.add(messages)
    assert store.wait_indexed()
    assert len(store.ids(parse_query("needle1"))) == 10
    for suffix in ("-index", "-index-wal", "-index-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    found: list[int] = []

    def search() -> None:
        found.append(len(store.ids(parse_query("needle1"))))
        found.append(store.list(0, 50, parse_query("haystack")).matched)

    search()  # this thread's connection, attached before the deletion
    reader = threading.Thread(target=search)  # a new connection, attached after it
    reader.start()
    reader.join()
    assert found == [10, 20, 10, 20]
    store.add([incoming(subject="needle1 later")])
    deadline = time.monotonic() + 10
    while store.text_index.generation == 0 and time.monotonic() < deadline:  # type: ignore[union-attr]
        time.sleep(0.05)
    assert store.wait_indexed()
    assert Path(f"{db}-index").exists()
    assert len(store.ids(parse_query("needle1"))) == 11
    store.close()


def test_spread_out_deletes_free_space_in_proportion(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The attack (issue 11.13): deleting a third of the mail, spread out, freed no disk at all."""
    monkeypatch.setattr(sqlite_store, "COMPACTED_GRACE", 0.0)  # the old files go at once
    db = tmp_path / "m.db"
    store = SQLiteStore(db, segment_bytes=64 * 1024)
    messages = [incoming(subject=f"m{n}", body=incompressible(n, 3000)) for n in range(300)]
    for start in range(0, 300, 10):
        store.add(messages[start : start + 10])

    def blob_bytes() -> int:
        return sum(p.stat().st_size for p in Path(f"{db}-blobs").glob("*.seg"))

    before = blob_bytes()
    store.delete([m.id for m in messages[::3]])  # every segment keeps two thirds
    after = blob_bytes()
    assert after <= 0.8 * before, (before, after)
    kept = [m for n, m in enumerate(messages) if n % 3]
    assert all(store.raw(m.id) == m.raw for m in kept)
    store.close()
