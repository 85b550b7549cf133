"""The default store: everything in this process's memory, gone on exit."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from mailsink.store.base import (
    Incoming,
    Page,
    StoredMessage,
    clamp_page,
    normalize_tags,
)
from mailsink.store.match import compile_query

if TYPE_CHECKING:
    from collections.abc import Iterable

    from mailsink.search import Query


class MemoryStore:
    """Keep messages in a dict in arrival order, guarded by one lock."""

    def __init__(self, max_messages: int = 0) -> None:
        self.max_messages = max_messages
        self._lock = threading.RLock()
        # Insertion-ordered: oldest first.  Values are (record, raw bytes).
        self._messages: dict[str, tuple[StoredMessage, bytes]] = {}
        self._unread = 0

    def add(self, batch: list[Incoming]) -> list[str]:
        """Store the batch; return the IDs pruned to honour max_messages."""
        with self._lock:
            for item in batch:
                record = StoredMessage(
                    item.id, item.received, item.envelope, item.summary, False, item.summary.tags
                )
                self._messages[item.id] = (record, item.raw)
                self._unread += 1
            return self._prune()

    def _prune(self) -> list[str]:
        """Drop the oldest messages beyond max_messages; return their IDs."""
        excess = len(self._messages) - self.max_messages if self.max_messages else 0
        if excess <= 0:
            return []
        pruned = []
        for message_id in self._messages:
            pruned.append(message_id)
            if len(pruned) == excess:
                break
        self._delete_locked(pruned)
        return pruned

    def get(self, message_id: str) -> StoredMessage | None:
        """Return the message with this ID, or None."""
        with self._lock:
            entry = self._messages.get(message_id)
            return entry[0] if entry else None

    def raw(self, message_id: str) -> bytes | None:
        """Return the exact bytes received for this message, or None."""
        with self._lock:
            entry = self._messages.get(message_id)
            return entry[1] if entry else None

    def _newest_first(self, query: Query | None) -> list[StoredMessage]:
        """Return the records matching the query, newest first."""
        with self._lock:
            records = [entry[0] for entry in reversed(self._messages.values())]
        if query is None or query.is_empty():
            return records
        matches = compile_query(query, self.raw)
        return [record for record in records if matches(record)]

    def list(self, start: int = 0, limit: int = 50, query: Query | None = None) -> Page:
        """Return messages newest first, optionally only those matching a query."""
        start, limit = clamp_page(start, limit)
        with self._lock:
            total, unread = len(self._messages), self._unread
            if query is None or query.is_empty():
                items = []
                for i, entry in enumerate(reversed(self._messages.values())):
                    if i >= start + limit:
                        break
                    if i >= start:
                        items.append(entry[0])
                return Page(items, total, unread, total, start)
        matched = self._newest_first(query)
        return Page(matched[start : start + limit], total, unread, len(matched), start)

    def ids(self, query: Query | None = None) -> list[str]:
        """Return the IDs of all messages (matching the query), newest first."""
        return [record.id for record in self._newest_first(query)]

    def count(self) -> int:
        """Return the number of stored messages."""
        return len(self._messages)

    def unread(self) -> int:
        """Return the number of unread messages."""
        return self._unread

    def delete(self, ids: Iterable[str]) -> list[str]:
        """Delete these messages; return the IDs that existed."""
        with self._lock:
            return self._delete_locked(ids)

    def _delete_locked(self, ids: Iterable[str]) -> list[str]:
        """Delete with the lock held."""
        deleted = []
        for message_id in ids:
            entry = self._messages.pop(message_id, None)
            if entry is not None:
                deleted.append(message_id)
                if not entry[0].read:
                    self._unread -= 1
        return deleted

    def clear(self) -> int:
        """Delete every message; return how many there were."""
        with self._lock:
            count = len(self._messages)
            self._messages.clear()
            self._unread = 0
            return count

    def set_read(self, ids: Iterable[str], read: bool) -> list[str]:
        """Mark messages read or unread; return the IDs whose flag changed."""
        changed = []
        with self._lock:
            for message_id in ids:
                entry = self._messages.get(message_id)
                if entry is not None and entry[0].read != read:
                    entry[0].read = read
                    self._unread += -1 if read else 1
                    changed.append(message_id)
        return changed

    def set_tags(self, ids: Iterable[str], tags: Iterable[str]) -> list[str]:
        """Replace the tags of these messages; return the IDs that exist."""
        clean = normalize_tags(tags)
        found = []
        with self._lock:
            for message_id in ids:
                entry = self._messages.get(message_id)
                if entry is not None:
                    entry[0].tags = clean
                    found.append(message_id)
        return found

    def rename_tag(self, old: str, new: str) -> list[str]:
        """Rename a tag on every message; return the IDs changed."""
        return self._edit_tags(old, new)

    def delete_tag(self, tag: str) -> list[str]:
        """Remove a tag from every message; return the IDs changed."""
        return self._edit_tags(tag, None)

    def _edit_tags(self, old: str, new: str | None) -> list[str]:
        """Replace (or drop, when new is None) a tag everywhere."""
        changed = []
        wanted = old.lower()
        with self._lock:
            for record, _raw in self._messages.values():
                if any(t.lower() == wanted for t in record.tags):
                    kept = [new if t.lower() == wanted else t for t in record.tags]
                    record.tags = normalize_tags(t for t in kept if t is not None)
                    changed.append(record.id)
        return changed

    def tags(self) -> list[str]:
        """Return every tag in use, sorted case-insensitively."""
        with self._lock:
            found = normalize_tags(t for record, _ in self._messages.values() for t in record.tags)
        return sorted(found, key=str.lower)

    def close(self) -> None:
        """Drop every message."""
        self.clear()
