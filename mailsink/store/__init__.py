"""Message stores: :class:`MemoryStore` (default) and :class:`SQLiteStore` (a file)."""

from __future__ import annotations

from mailsink.config import is_memory_store
from mailsink.store.base import MAX_PAGE, Incoming, MessageStore, Page, StoredMessage
from mailsink.store.memory import MemoryStore
from mailsink.store.sqlite import SQLiteStore

__all__ = [
    "MAX_PAGE",
    "Incoming",
    "MemoryStore",
    "MessageStore",
    "Page",
    "SQLiteStore",
    "StoredMessage",
    "open_store",
]


def open_store(spec: str, max_messages: int = 0, sync: str = "normal") -> MessageStore:
    """Open the store named by ``--store`` (``memory`` or the path of a SQLite file), started.

    A SQLite store's helper threads start here (:meth:`SQLiteStore.start`)
    and stop when it is closed.
    """
    if is_memory_store(spec):
        return MemoryStore(max_messages)
    return SQLiteStore(spec, max_messages, synchronous=sync).start()
