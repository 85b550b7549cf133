"""The SQLite store's files on disk: the names its map lists, DatabaseSize, an idle WAL's size."""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

from api_helpers import raw_message, smtp_send

from helpers import incoming
from mailsink.server import Sink
from mailsink.store import SQLiteStore

pytest_plugins = ["conftest_api"]


def _file_bytes(folder: Path) -> int:
    """Return the sizes of every file under ``folder``, walked on disk, summed."""
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def _wait_for(condition: Callable[[], bool], timeout: float = 20.0) -> bool:
    """Poll a callable until it returns true or the timeout passes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def test_database_size_is_every_byte_the_store_files_take(live_sink: Sink, tmp_path: Path) -> None:
    for n in range(30):
        smtp_send(live_sink, ["bob@example.test"], raw_message(subject=f"m{n}", body="x" * 3000))
    assert live_sink.store.count() == 30
    seen: list[tuple[int, int, int]] = []

    def stable() -> bool:
        # The index thread and the checkpointer change the files for a moment after
        # the last message; compare once two walks either side of the request agree.
        before = _file_bytes(tmp_path)
        with urllib.request.urlopen(f"{live_sink.web_url}/api/v1/info", timeout=10) as response:
            reported = json.load(response)["DatabaseSize"]
        seen.append((before, reported, _file_bytes(tmp_path)))
        return seen[-1][0] == seen[-1][2]

    assert _wait_for(stable), f"the files kept changing: {seen[-3:]}"
    before, reported, _after = seen[-1]
    assert reported == before
    assert {p.name for p in tmp_path.iterdir()} == {
        "sink.db",
        "sink.db-wal",
        "sink.db-shm",
        "sink.db-blobs",
        "sink.db-index",
        "sink.db-index-wal",
        "sink.db-index-shm",
        "sink.db-lock",
    }


def test_the_wal_files_are_truncated_once_the_store_is_idle(tmp_path: Path) -> None:
    db = tmp_path / "m.db"
    wal, index_wal = Path(f"{db}-wal"), Path(f"{db}-index-wal")
    store = SQLiteStore(db).start()
    try:
        messages = [incoming(subject=f"m{n}", body="walrus " * 300) for n in range(300)]
        for first in range(0, len(messages), 10):
            store.add(messages[first : first + 10])
        store.set_read(store.ids(), True)  # "mark all read": one large transaction
        assert wal.stat().st_size > 100_000
        assert store.wait_indexed()
        assert index_wal.stat().st_size > 0
        assert _wait_for(lambda: wal.stat().st_size == 0 and index_wal.stat().st_size == 0), (
            f"WAL {wal.stat().st_size} bytes, index WAL {index_wal.stat().st_size} bytes"
        )
        assert (store.count(), store.unread()) == (300, 0)
        assert store.raw(messages[7].id) == messages[7].raw
        later = incoming(subject="after the truncation")
        store.add([later])
        assert store.ids()[0] == later.id
    finally:
        store.close()
