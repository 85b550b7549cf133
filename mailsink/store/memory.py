"""The default store: everything in this process's memory, gone on exit.

Memory is the budget here: a Python object per summary field costs more than
a small message itself.  So each message is a single bytes object: its
metadata packed as compact JSON and compressed, then the raw bytes; it is
decoded into a :class:`StoredMessage` when asked for (a page of 50 costs well
under a millisecond).  When a message's body *is* its text (plain and
unencoded), the text and snippet are not kept at all but read from the raw
bytes.  The read flags and changed tags live in small side tables.
"""

from __future__ import annotations

import builtins
import collections
import json
import threading
import time
import zlib
from typing import TYPE_CHECKING, Any

from mailsink.message import make_snippet
from mailsink.store.base import (
    Incoming,
    Page,
    StoredMessage,
    clamp_page,
    edit_tag,
    normalize_tags,
)
from mailsink.store.codec import (
    envelope_from_dict,
    envelope_to_dict,
    summary_from_dict,
    summary_to_dict,
)
from mailsink.store.match import compile_query
from mailsink.store.relays import RelayJob

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator

    from mailsink.search import Query

_SNIPPET_BYTES = 4096
"""How much of the body is decoded to rebuild a snippet."""


_LENGTH = 4
"""Bytes of the big-endian length of the compressed metadata at the start of a blob."""


def _blob(item: Incoming) -> bytes:
    """Return one message as a single bytes object: metadata length, metadata, raw."""
    meta = zlib.compress(_pack(item), 1)
    return len(meta).to_bytes(_LENGTH, "big") + meta + item.raw


def _meta_json(blob: bytes) -> tuple[bytes, int]:
    """Return a blob's metadata JSON (decompressed) and where its raw bytes start."""
    size = int.from_bytes(blob[:_LENGTH], "big")
    return zlib.decompress(blob[_LENGTH : _LENGTH + size]), _LENGTH + size


def _split(blob: bytes) -> tuple[list[Any], memoryview]:
    """Return a blob's decoded metadata and a view of its raw bytes (no copy)."""
    meta, raw_at = _meta_json(blob)
    return json.loads(meta), memoryview(blob)[raw_at:]


def _raw(blob: bytes) -> bytes:
    """Return the raw bytes of a blob."""
    size = int.from_bytes(blob[:_LENGTH], "big")
    return blob[_LENGTH + size :]


_SUMMARY_FIELDS = (
    "message_id", "subject", "from", "return_path", "date", "attachments", "inline",
    "long_lines", "to", "cc", "reply_to", "bcc",
)  # fmt: skip
_ENVELOPE_FIELDS = ("mail_from", "rcpt_tos", "helo", "peer", "tls", "auth_user")


def _pack(item: Incoming) -> bytes:
    """Return an incoming message's metadata as compact, positional JSON bytes.

    Positional (no key names) because the names would be a third of the bytes.
    The size is len(raw), the tags live in a side table, and the text and snippet
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


_PREFILTER_FIELDS = frozenset(
    {"text", "subject", "message-id", "to", "from", "cc", "bcc", "reply-to", "addressed"}
)
_UNSAFE = frozenset('"\\<>,')


def _needles(query: Query | None) -> builtins.list[tuple[str, bool]]:
    """Return values every match must contain in its metadata JSON or its text body.

    Each positive text, subject, message-ID or address term matches a substring
    of a field that appears verbatim in the metadata JSON (free text: or of the
    body), so a message that lacks a term's value cannot match and is skipped
    without being decoded.  The flag says whether the body counts.  Values that
    JSON would escape, or that an address term could match across
    ``Name <address>`` punctuation, are not used.
    """
    if query is None:
        return []
    return [
        (term.value, term.field == "text")
        for term in query.terms
        if not term.negate
        and term.field in _PREFILTER_FIELDS
        and term.value
        and not any(ch in _UNSAFE or ord(ch) < 32 for ch in term.value)
    ]


def _may_match(blob: bytes, needles: builtins.list[tuple[str, bool]]) -> bool:
    """Tell whether every needle occurs in a blob's metadata (or text body, for free text)."""
    meta_json, raw_at = _meta_json(blob)
    meta = meta_json.decode("utf-8").lower()
    missing = []
    for needle, in_body_too in needles:
        if needle in meta:
            continue
        if not in_body_too:
            return False  # a header field term: its field is in the metadata or nowhere
        missing.append(needle)
    if not missing:
        return True
    text_at = json.loads(meta)[3]
    if text_at < 0:
        return False  # the text body is in the metadata, already searched
    body = blob[raw_at + text_at :].decode("utf-8", "surrogateescape").lower()
    return all(needle in body for needle in missing)


def _unpack(
    message_id: str,
    blob: bytes,
    read: bool,
    tags: tuple[str, ...],
    with_text: bool = False,
    with_snippet: bool = True,
) -> StoredMessage:
    """Build the StoredMessage of a blob (with the text body and snippet, if asked)."""
    (received, envelope, fields, text_at, kept_text, snippet), raw = _split(blob)
    summary: dict[str, Any] = dict(zip(_SUMMARY_FIELDS, fields, strict=True))
    summary["size"] = len(raw)
    summary["tags"] = tags
    if text_at >= 0 and with_snippet:
        head = bytes(raw[text_at : text_at + _SNIPPET_BYTES]).decode("utf-8", "replace")
        summary["snippet"] = make_snippet(head)
    else:
        summary["snippet"] = snippet or ""
    text = ""
    if with_text:
        text = (
            bytes(raw[text_at:]).decode("utf-8", "surrogateescape") if text_at >= 0 else kept_text
        )
    return StoredMessage(
        message_id,
        received,
        envelope_from_dict(dict(zip(_ENVELOPE_FIELDS, envelope, strict=True))),
        summary_from_dict(summary, text),
        read,
        tags,
    )


def _new_validity() -> int:
    """Return a UIDVALIDITY for a new store: the current second, as 32 bits."""
    return max(1, int(time.time()) & 0xFFFFFFFF)


class MemoryStore:
    """Keep messages in a dict in arrival order, guarded by one lock."""

    def __init__(self, max_messages: int = 0) -> None:
        self.max_messages = max_messages
        self._lock = threading.RLock()
        self._messages: dict[str, bytes] = {}  # insertion-ordered: oldest first
        self._read: set[str] = set()
        self._tags: dict[str, tuple[str, ...]] = {}  # only messages that have tags
        self._unread = 0
        self._relays: dict[str, RelayJob] = {}  # by job ID, oldest first
        self._uids: dict[str, int] = {}  # message ID -> UID, given out in arrival order
        self._last_uid = 0
        self._validity = _new_validity()

    def add(self, batch: builtins.list[Incoming]) -> builtins.list[str]:
        """Store the batch; return the IDs pruned to honour max_messages."""
        packed = [(item, _blob(item)) for item in batch]
        with self._lock:
            for item, blob in packed:
                self._messages[item.id] = blob
                self._last_uid += 1
                self._uids[item.id] = self._last_uid
                if item.summary.tags:
                    self._tags[item.id] = item.summary.tags
            self._unread += len(packed)
            return self._prune()

    def _record(
        self, message_id: str, blob: bytes, with_text: bool = False, with_snippet: bool = True
    ) -> StoredMessage:
        """Return the StoredMessage of a blob with its current flags."""
        return _unpack(
            message_id,
            blob,
            message_id in self._read,
            self._tags.get(message_id, ()),
            with_text,
            with_snippet,
        )

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
            blob = self._messages.get(message_id)
            return self._record(message_id, blob) if blob else None

    def raw(self, message_id: str) -> bytes | None:
        """Return the exact bytes received for this message, or None."""
        with self._lock:
            blob = self._messages.get(message_id)
            return _raw(blob) if blob else None

    def _newest(self) -> Iterator[tuple[str, bytes]]:
        """Return a snapshot of (id, blob), newest first."""
        with self._lock:
            return reversed(list(self._messages.items()))

    def _matching(self, query: Query | None) -> builtins.list[tuple[str, bytes]]:
        """Return (id, blob) of the messages matching the query, newest first.

        Candidates are decoded without a snippet, and without the text body
        unless free text is searched; callers build full records for the page.
        """
        matches = compile_query(query, self.raw)
        needles = _needles(query)
        with_text = query is not None and any(t.field == "text" for t in query.terms)
        found = []
        for message_id, blob in self._newest():
            if needles and not _may_match(blob, needles):
                continue
            if matches(self._record(message_id, blob, with_text, with_snippet=False)):
                found.append((message_id, blob))
        return found

    def list(self, start: int = 0, limit: int = 50, query: Query | None = None) -> Page:
        """Return messages newest first, optionally only those matching a query."""
        start, limit = clamp_page(start, limit)
        with self._lock:
            total, unread = len(self._messages), self._unread
            if query is None or query.is_empty():
                items = []
                for i, (message_id, blob) in enumerate(reversed(self._messages.items())):
                    if i >= start + limit:
                        break
                    if i >= start:
                        items.append(self._record(message_id, blob))
                return Page(items, total, unread, total, start)
        matched = self._matching(query)
        page = [self._record(i, blob) for i, blob in matched[start : start + limit]]
        return Page(page, total, unread, len(matched), start)

    def ids(self, query: Query | None = None) -> builtins.list[str]:
        """Return the IDs of all messages (matching the query), newest first."""
        if query is None or query.is_empty():
            return [message_id for message_id, _blob in self._newest()]
        return [message_id for message_id, _blob in self._matching(query)]

    def matcher(self, query: Query) -> Callable[[StoredMessage], bool]:
        """Return a predicate that tells whether one of this store's records matches."""
        return compile_query(query, self.raw)

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
            if self._messages.pop(message_id, None) is not None:
                deleted.append(message_id)
                self._uids.pop(message_id, None)
                self._tags.pop(message_id, None)
                if message_id in self._read:
                    self._read.discard(message_id)
                else:
                    self._unread -= 1
        return deleted

    def clear(self) -> int:
        """Delete every message; return how many there were."""
        with self._lock:
            count = len(self._messages)
            self._messages.clear()
            self._uids.clear()  # the UID counter goes on: UIDs are never reused
            self._read.clear()
            self._tags.clear()
            self._unread = 0
            return count

    def set_read(self, ids: Iterable[str], read: bool) -> builtins.list[str]:
        """Mark messages read or unread; return the IDs whose flag changed."""
        changed = []
        with self._lock:
            for message_id in ids:
                if message_id in self._messages and (message_id in self._read) != read:
                    if read:
                        self._read.add(message_id)
                    else:
                        self._read.discard(message_id)
                    self._unread += -1 if read else 1
                    changed.append(message_id)
        return changed

    def set_tags(self, ids: Iterable[str], tags: Iterable[str]) -> builtins.list[str]:
        """Replace the tags of these messages; return the IDs that exist."""
        clean = normalize_tags(tags)
        found = []
        with self._lock:
            for message_id in ids:
                if message_id in self._messages:
                    if clean:
                        self._tags[message_id] = clean
                    else:
                        self._tags.pop(message_id, None)
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
        with self._lock:
            for message_id, tags in list(self._tags.items()):
                edited = edit_tag(tags, old, new)
                if edited is not None:
                    self._tags[message_id] = edited
                    changed.append(message_id)
        return changed

    def tags(self) -> builtins.list[str]:
        """Return every tag in use, sorted case-insensitively."""
        with self._lock:
            found = normalize_tags(t for tags in self._tags.values() for t in tags)
        return sorted(found, key=str.lower)

    def tag_counts(self) -> dict[str, int]:
        """Return each tag in use with its number of messages, from the tag side table.

        What ``tag:NAME`` matches, counted without a search per tag: each search
        scans every message, which made ``/api/v1/info`` take 16 s at 500,000
        messages (issue 19).
        """
        counts: collections.Counter[str] = collections.Counter()
        with self._lock:
            for tags in self._tags.values():
                counts.update(t.lower() for t in tags)
        return {tag: counts[tag.lower()] for tag in self.tags()}

    def put_relay(self, job: RelayJob) -> None:
        """Keep a relay job, replacing the one with its ID."""
        with self._lock:
            self._relays[job.id] = job

    def relays(self, message_id: str) -> builtins.list[RelayJob]:
        """Return the relay jobs of one message, oldest first."""
        with self._lock:
            return [j for j in self._relays.values() if j.message_id == message_id]

    def pending_relays(self) -> builtins.list[RelayJob]:
        """Return every relay job still pending, oldest first."""
        with self._lock:
            return [j for j in self._relays.values() if j.pending]

    def forget_relays(self, message_ids: Iterable[str] | None) -> None:
        """Drop the relay jobs of these messages (None: of every message)."""
        with self._lock:
            if message_ids is None:
                self._relays.clear()
                return
            gone = set(message_ids)
            self._relays = {k: j for k, j in self._relays.items() if j.message_id not in gone}

    def disk_usage(self) -> int:
        """Return 0: nothing is on disk."""
        return 0

    def uids(self, query: Query | None = None, after: int = 0) -> builtins.list[tuple[int, str]]:
        """Return (uid, id) of the messages (matching) with uid > after, oldest first."""
        if query is None or query.is_empty():
            with self._lock:
                found = []
                for message_id in reversed(self._messages):
                    uid = self._uids[message_id]
                    if uid <= after:
                        break
                    found.append((uid, message_id))
            found.reverse()
            return found
        uids = self._uids
        pairs = [(uids.get(i, 0), i) for i in self.ids(query)]
        return sorted(p for p in pairs if p[0] > after)

    def uid_validity(self) -> int:
        """Return this store's UIDVALIDITY: the second it was created."""
        return self._validity

    def close(self) -> None:
        """Drop every message."""
        self.clear()
