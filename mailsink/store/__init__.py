"""Message stores: :class:`MemoryStore` (default) and :class:`SQLiteStore` (a file)."""

from __future__ import annotations

from mailsink.config import is_memory_store, is_postgres_store
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
    """Open the store named by ``--store``: ``memory``, a PostgreSQL URL or a SQLite file.

    Either disk store is returned started: a SQLite store's helper threads
    (:meth:`SQLiteStore.start`), a PostgreSQL store connected, its tables
    checked and its change feed listening (it needs the ``mailsink-server[postgres]``
    extra); both stop when the store is closed.
    """
    if is_memory_store(spec):
        return MemoryStore(max_messages)
    if is_postgres_store(spec):
        try:
            from mailsink.store.postgres import PostgresStore
        except ImportError as error:
            raise RuntimeError(
                "the PostgreSQL store needs psycopg: "
                f"pip install 'mailsink-server[postgres]' ({error})"
            ) from None
        return PostgresStore(spec, max_messages).start()
    return SQLiteStore(spec, max_messages, synchronous=sync).start()
