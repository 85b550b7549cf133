"""SQLite-only behaviour: failed writes roll back whole, and a file reopens intact."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from helpers import incoming
from mailsink.search import parse_query
from mailsink.store import SQLiteStore


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
