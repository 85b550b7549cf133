"""The default store: everything in this process's memory, gone on exit.

Memory is the budget here: a Python object per summary field costs more than
a small message itself.  So each message is one small slotted entry holding
the raw bytes and its metadata packed as compact JSON bytes, decoded into a
:class:`StoredMessage` when asked for (a page of 50 costs well under a
millisecond).  When a message's body *is* its text (plain and unencoded),
the text and snippet are not kept at all but read from the raw bytes.
"""

from __future__ import annotations

import builtins
import dataclasses
import json
import threading
from typing import TYPE_CHECKING, Any

from mailsink.message import make_snippet
from mailsink.store.base import (
    Incoming,
    Page,
    StoredMessage,
    clamp_page,
    normalize_tags,
)
from mailsink.store.codec import (
    envelope_from_dict,
    envelope_to_dict,
    summary_from_dict,
    summary_to_dict,
)
from mailsink.store.match import compile_query

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

    from mailsink.search import Query

_SNIPPET_BYTES = 4096
"""How much of the body is decoded to rebuild a snippet."""


class _Entry:
    """One stored message: raw bytes, packed metadata, and the mutable flags."""

    __slots__ = ("meta", "raw", "read", "tags")

    def __init__(self, meta: bytes, raw: bytes, tags: tuple[str, ...]) -> None:
        self.meta = meta
        self.raw = raw
        self.read = False
        self.tags = tags


_SUMMARY_FIELDS = (
    "message_id", "subject", "from", "return_path", "date", "attachments", "inline",
    "long_lines", "to", "cc", "reply_to", "bcc",
)  # fmt: skip
_ENVELOPE_FIELDS = ("mail_from", "rcpt_tos", "helo", "peer", "tls", "auth_user")


def _pack(item: Incoming) -> bytes:
    """Return an incoming message's metadata as compact, positional JSON bytes.

    Positional (no key names) because the names would be a third of the bytes.
    The size is len(raw), the tags live on the entry, and the text and snippet
    are left out when the raw body is the text.
    """
    summary = summary_to_dict(item.summary)
    envelope = envelope_to_dict(item.envelope)
    text = item.summary.text.encode("utf-8", "surrogateescape") if item.summary.text else b""
    if text and item.raw.endswith(text):
        text_at, kept_text, snippet = len(item.raw) - len(text), "", None
    else:
        text_at, kept_text, snippet = -1, item.summary.text, item.summary.snippet
    data = [
        item.received,
        [envelope[name] for name in _ENVELOPE_FIELDS],
        [summary[name] for name in _SUMMARY_FIELDS],
        text_at,
        kept_text,
        snippet,
    ]
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()


def _unpack(message_id: str, entry: _Entry, with_text: bool = False) -> StoredMessage:
    """Build the StoredMessage of an entry (with the text body, if asked)."""
    received, envelope, fields, text_at, kept_text, snippet = json.loads(entry.meta)
    summary: dict[str, Any] = dict(zip(_SUMMARY_FIELDS, fields, strict=True))
    summary["size"] = len(entry.raw)
    summary["tags"] = entry.tags
    if text_at >= 0:
        head = entry.raw[text_at : text_at + _SNIPPET_BYTES].decode("utf-8", "replace")
        summary["snippet"] = make_snippet(head)
    else:
        summary["snippet"] = snippet
    text = ""
    if with_text:
        text = entry.raw[text_at:].decode("utf-8", "surrogateescape") if text_at >= 0 else kept_text
    return StoredMessage(
        message_id,
        received,
        envelope_from_dict(dict(zip(_ENVELOPE_FIELDS, envelope, strict=True))),
        summary_from_dict(summary, text),
        entry.read,
        entry.tags,
    )


class MemoryStore:
    """Keep messages in a dict in arrival order, guarded by one lock."""

    def __init__(self, max_messages: int = 0) -> None:
        self.max_messages = max_messages
        self._lock = threading.RLock()
        self._messages: dict[str, _Entry] = {}  # insertion-ordered: oldest first
        self._unread = 0

    def add(self, batch: builtins.list[Incoming]) -> builtins.list[str]:
        """Store the batch; return the IDs pruned to honour max_messages."""
        packed = [(item.id, _Entry(_pack(item), item.raw, item.summary.tags)) for item in batch]
        with self._lock:
            for message_id, entry in packed:
                self._messages[message_id] = entry
            self._unread += len(packed)
            return self._prune()

    def _prune(self) -> builtins.list[str]:
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
            return _unpack(message_id, entry) if entry else None

    def raw(self, message_id: str) -> bytes | None:
        """Return the exact bytes received for this message, or None."""
        with self._lock:
            entry = self._messages.get(message_id)
            return entry.raw if entry else None

    def _newest(self) -> Iterator[tuple[str, _Entry]]:
        """Return a snapshot of (id, entry), newest first."""
        with self._lock:
            return reversed(list(self._messages.items()))

    def _matching(self, query: Query | None) -> builtins.list[StoredMessage]:
        """Return the messages matching the query, newest first."""
        matches = compile_query(query, self.raw)
        found = []
        for message_id, entry in self._newest():
            record = _unpack(message_id, entry, with_text=True)
            if matches(record):
                found.append(record)
        return found

    def list(self, start: int = 0, limit: int = 50, query: Query | None = None) -> Page:
        """Return messages newest first, optionally only those matching a query."""
        start, limit = clamp_page(start, limit)
        with self._lock:
            total, unread = len(self._messages), self._unread
            if query is None or query.is_empty():
                items = []
                for i, (message_id, entry) in enumerate(reversed(self._messages.items())):
                    if i >= start + limit:
                        break
                    if i >= start:
                        items.append(_unpack(message_id, entry))
                return Page(items, total, unread, total, start)
        matched = self._matching(query)
        page = [_without_text(m) for m in matched[start : start + limit]]
        return Page(page, total, unread, len(matched), start)

    def ids(self, query: Query | None = None) -> builtins.list[str]:
        """Return the IDs of all messages (matching the query), newest first."""
        if query is None or query.is_empty():
            return [message_id for message_id, _entry in self._newest()]
        return [record.id for record in self._matching(query)]

    def count(self) -> int:
        """Return the number of stored messages."""
        return len(self._messages)

    def unread(self) -> int:
        """Return the number of unread messages."""
        return self._unread

    def delete(self, ids: Iterable[str]) -> builtins.list[str]:
        """Delete these messages; return the IDs that existed."""
        with self._lock:
            return self._delete_locked(ids)

    def _delete_locked(self, ids: Iterable[str]) -> builtins.list[str]:
        """Delete with the lock held."""
        deleted = []
        for message_id in ids:
            entry = self._messages.pop(message_id, None)
            if entry is not None:
                deleted.append(message_id)
                if not entry.read:
                    self._unread -= 1
        return deleted

    def clear(self) -> int:
        """Delete every message; return how many there were."""
        with self._lock:
            count = len(self._messages)
            self._messages.clear()
            self._unread = 0
            return count

    def set_read(self, ids: Iterable[str], read: bool) -> builtins.list[str]:
        """Mark messages read or unread; return the IDs whose flag changed."""
        changed = []
        with self._lock:
            for message_id in ids:
                entry = self._messages.get(message_id)
                if entry is not None and entry.read != read:
                    entry.read = read
                    self._unread += -1 if read else 1
                    changed.append(message_id)
        return changed

    def set_tags(self, ids: Iterable[str], tags: Iterable[str]) -> builtins.list[str]:
        """Replace the tags of these messages; return the IDs that exist."""
        clean = normalize_tags(tags)
        found = []
        with self._lock:
            for message_id in ids:
                entry = self._messages.get(message_id)
                if entry is not None:
                    entry.tags = clean
                    found.append(message_id)
        return found

    def rename_tag(self, old: str, new: str) -> builtins.list[str]:
        """Rename a tag on every message; return the IDs changed."""
        return self._edit_tags(old, new)

    def delete_tag(self, tag: str) -> builtins.list[str]:
        """Remove a tag from every message; return the IDs changed."""
        return self._edit_tags(tag, None)

    def _edit_tags(self, old: str, new: str | None) -> builtins.list[str]:
        """Replace (or drop, when new is None) a tag everywhere."""
        changed = []
        wanted = old.lower()
        with self._lock:
            for message_id, entry in self._messages.items():
                if any(t.lower() == wanted for t in entry.tags):
                    kept = [new if t.lower() == wanted else t for t in entry.tags]
                    entry.tags = normalize_tags(t for t in kept if t is not None)
                    changed.append(message_id)
        return changed

    def tags(self) -> builtins.list[str]:
        """Return every tag in use, sorted case-insensitively."""
        with self._lock:
            found = normalize_tags(t for entry in self._messages.values() for t in entry.tags)
        return sorted(found, key=str.lower)

    def close(self) -> None:
        """Drop every message."""
        self.clear()


def _without_text(record: StoredMessage) -> StoredMessage:
    """Return a record without its (possibly large) text body, as get() returns it."""
    if not record.summary.text:
        return record
    return dataclasses.replace(record, summary=dataclasses.replace(record.summary, text=""))
