"""The store contract: what every message store offers, and the records it returns.

A store keeps raw bytes and the envelope of each message, plus the summary
parsed at ingest so that lists and searches need no parsing.  Stores are
thread-safe: the SMTP listener (its event loop, or the ingest thread for large
messages) writes while web threads read.  They do not publish events;
:class:`mailsink.mailbox.Mailbox` does that around them.
"""

from __future__ import annotations

import builtins
import errno
import sqlite3
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from mailsink.message import Envelope, Summary, normalize_tags
from mailsink.store.relays import RelayJob

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable
    from contextlib import AbstractContextManager

    from mailsink.events import EventData, EventKind
    from mailsink.search import Query

__all__ = [
    "RANGE_COLUMNS",
    "MAX_PAGE",
    "CorruptMessageError",
    "Incoming",
    "MessageStore",
    "Page",
    "RelayJob",
    "SharedStore",
    "StoredMessage",
    "clamp_page",
    "is_disk_full",
    "normalize_tags",
]

RANGE_COLUMNS = {
    "larger": ("size", ">"),
    "smaller": ("size", "<"),
    "after": ("received", ">="),
    "before": ("received", "<"),
}
"""The column and comparison of each range term, for the stores that compile searches to SQL."""

MAX_PAGE = 1_000
"""The largest page a store returns, whatever limit is asked for."""


class CorruptMessageError(Exception):
    """A message's stored bytes failed their check (length or checksum): never served as good."""

    def __init__(self, message_id: str, reason: str) -> None:
        super().__init__(f"the stored bytes of message {message_id} are corrupted: {reason}")
        self.message_id = message_id
        self.reason = reason


@dataclass(slots=True)
class StoredMessage:
    """A message as a store returns it: ID, envelope, summary and flags (no raw bytes)."""

    id: str
    received: float
    envelope: Envelope
    summary: Summary
    read: bool = False
    tags: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Incoming:
    """A message to add: what the listener (or the send API) hands the store."""

    id: str
    received: float
    raw: bytes
    envelope: Envelope
    summary: Summary


@dataclass(frozen=True, slots=True)
class Page:
    """One page of a listing or search, newest first."""

    items: builtins.list[StoredMessage]
    total: int
    unread: int
    matched: int
    start: int
    matched_unread: int | None = None
    """How many of the matching messages are unread, when the store counted them with the
    search (one pass); None when it did not, and the caller counts them if it needs to."""


class MessageStore(Protocol):
    """The operations every store implements; one contract suite tests them all.

    Relay bookkeeping (``put_relay``, ``relays``, ``pending_relays``,
    ``forget_relays``) is the small addition relay needs: every release and
    auto-relay is a :class:`~mailsink.store.relays.RelayJob`, written after
    each attempt and read back to show the results on the message and, for a
    disk store, to resume pending jobs after a restart.  A store keeps jobs
    beside (not inside) its messages, keyed by job ID and looked up by message
    ID and by the pending flag; it may keep them as the JSON of
    :func:`~mailsink.store.relays.encode_job`.  Deleting messages need not
    delete their jobs: the relayer calls ``forget_relays`` when it sees the
    ``delete``/``truncate`` events.  A new store (PostgreSQL) implements the
    four methods as the memory and SQLite stores do; the contract suite
    (``tests/test_store_contract.py``) covers them.
    """

    max_messages: int

    def add(self, batch: builtins.list[Incoming]) -> builtins.list[str]:
        """Store the batch durably; return the IDs pruned to honour max_messages."""
        ...

    def get(self, message_id: str) -> StoredMessage | None:
        """Return the message with this ID, or None."""
        ...

    def raw(self, message_id: str) -> bytes | None:
        """Return the exact bytes received for this message, or None.

        A store that keeps bytes outside its own transactions (files, a
        network) checks them on the way out: their length and a checksum
        recorded when they were stored.  Bytes that fail the check raise
        :class:`CorruptMessageError`; they are never returned as the message.
        """
        ...

    def list(self, start: int = 0, limit: int = 50, query: Query | None = None) -> Page:
        """Return messages newest first, optionally only those matching a query."""
        ...

    def ids(self, query: Query | None = None) -> builtins.list[str]:
        """Return the IDs of all messages (matching the query), newest first."""
        ...

    def matcher(self, query: Query) -> Callable[[StoredMessage], bool]:
        """Return a predicate that tells whether a message (a record of this store) matches.

        For code that must test messages as they arrive, such as a wait for a
        matching message, without asking the store to search again each time.
        """
        ...

    def count(self) -> int:
        """Return the number of stored messages."""
        ...

    def unread(self) -> int:
        """Return the number of unread messages."""
        ...

    def delete(self, ids: Iterable[str]) -> builtins.list[str]:
        """Delete these messages; return the IDs that existed."""
        ...

    def clear(self) -> int:
        """Delete every message; return how many there were."""
        ...

    def set_read(self, ids: Iterable[str], read: bool) -> builtins.list[str]:
        """Mark messages read or unread; return the IDs whose flag changed."""
        ...

    def set_tags(self, ids: Iterable[str], tags: Iterable[str]) -> builtins.list[str]:
        """Replace the tags of these messages; return the IDs that exist."""
        ...

    def rename_tag(self, old: str, new: str) -> builtins.list[str]:
        """Rename a tag on every message; return the IDs changed."""
        ...

    def delete_tag(self, tag: str) -> builtins.list[str]:
        """Remove a tag from every message; return the IDs changed."""
        ...

    def tags(self) -> builtins.list[str]:
        """Return every tag in use, sorted case-insensitively."""
        ...

    def tag_counts(self) -> dict[str, int]:
        """Return each tag of ``tags()`` with how many messages ``tag:NAME`` matches.

        Counted in one pass over the stored tags (a ``GROUP BY``, a side
        table), never with a search per tag: each such search scans every
        message, and the UI's tag list asks on every change.
        """
        ...

    def put_relay(self, job: RelayJob) -> None:
        """Keep a relay job durably, replacing the one with its ID."""
        ...

    def relays(self, message_id: str) -> builtins.list[RelayJob]:
        """Return the relay jobs of one message, oldest first."""
        ...

    def pending_relays(self) -> builtins.list[RelayJob]:
        """Return every relay job still pending, oldest first."""
        ...

    def forget_relays(self, message_ids: Iterable[str] | None) -> None:
        """Drop the relay jobs of these messages (None: of every message)."""
        ...

    def disk_usage(self) -> int:
        """Return the bytes the store's files take on disk (0 for a store in memory)."""
        ...

    def uids(self, query: Query | None = None, after: int = 0) -> builtins.list[tuple[int, str]]:
        """Return (uid, id) of the messages (matching the query) with uid > after, oldest first.

        A UID is a positive integer the store gives a message when it is
        added and never gives another (not even after :meth:`clear`), so
        IMAP and POP3 clients can cache by it across connections and restarts.
        """
        ...

    def uid_validity(self) -> int:
        """Return a 32-bit number that changes only when the store starts afresh.

        UIDs from two stores with different validities may repeat; within
        one validity they never do (IMAP's UIDVALIDITY).
        """
        ...

    def close(self) -> None:
        """Release files and connections; the store is unusable afterwards."""
        ...


@runtime_checkable
class SharedStore(Protocol):
    """A store that other processes change too (PostgreSQL): it reports their changes.

    The mailbox announces its own changes; :meth:`follow` is how it hears of
    the others', so that event streams and waits see every node's mail.
    Stores of this kind also commit over the network (``remote_commit``),
    which is why the ingestor awaits their commits on the loop (a
    :class:`LoopStore`) or makes them on its writer threads.
    """

    remote_commit: bool

    def follow(
        self,
        publish: Callable[[EventKind, EventData], object],
        listening: Callable[[str], bool] | None = None,
    ) -> None:
        """Call ``publish(kind, data)`` for every change another process commits.

        ``listening(kind)`` tells whether anyone would hear a change of that
        kind: while it says no for ``new``, the store need not fetch the
        records of new messages to publish.
        """
        ...

    def lead(self, work: str) -> AbstractContextManager[bool]:
        """Hold the right to do ``work`` (``"prune"``) for a ``with`` block, if no one has it.

        Yields False while another process holds it: that one does the work,
        so the sweeps of several nodes never run side by side.
        """
        ...


@runtime_checkable
class LoopStore(Protocol):
    """A store whose commit is a network round trip that an event loop can await (PostgreSQL).

    The ingestor stores its cheap messages from the SMTP loop through
    :meth:`add_async` (``ingest.py``), as it stores them on the loop for the
    other stores: no thread hand-off per batch, and the loop keeps serving
    other sessions while the commit is in flight.
    """

    async def add_async(self, batch: list[Incoming]) -> list[str]:
        """Store the batch as :meth:`MessageStore.add` does, awaiting its commit."""
        ...


_PG_NO_ROOM = frozenset({"53100", "53000"})


def is_disk_full(error: BaseException) -> bool:
    """Tell whether storing failed because the disk (or quota) is full, not because of the mail.

    The listener answers such a failure ``452 4.3.1`` and the send API 507,
    so a client learns to retry later rather than that its message was bad.
    """
    if isinstance(error, OSError):
        return error.errno in (errno.ENOSPC, errno.EDQUOT)
    if isinstance(error, sqlite3.OperationalError):
        return "full" in str(error)
    # PostgreSQL's disk_full and insufficient_resources (psycopg puts the code on the error;
    # read by name, so this module needs no psycopg).
    return getattr(error, "sqlstate", None) in _PG_NO_ROOM


def clamp_page(start: int, limit: int) -> tuple[int, int]:
    """Return a safe (start, limit): non-negative, limit at most MAX_PAGE."""
    return max(0, int(start)), max(0, min(int(limit), MAX_PAGE))


def edit_tag(tags: tuple[str, ...], old: str, new: str | None) -> tuple[str, ...] | None:
    """Return tags with ``old`` (in any case) renamed to ``new``, or dropped when it is None.

    None when ``old`` is not among them: the message is left as it is.
    """
    wanted = old.lower()
    if not any(t.lower() == wanted for t in tags):
        return None
    kept = (new if t.lower() == wanted else t for t in tags)
    return normalize_tags(t for t in kept if t is not None)


def count_tags(groups: Iterable[tuple[Iterable[str], int]], names: list[str]) -> dict[str, int]:
    """Return each of ``names`` (``tags()``) with its messages, from (tag set, messages) groups.

    A disk store groups its rows by their stored tags and passes the groups:
    one query whatever the number of tags.  Tags compare case-insensitively,
    as ``tag:`` does, and are spelled and ordered as ``tags()`` has them.
    """
    counts: dict[str, int] = {}
    for tags, messages in groups:
        for tag in normalize_tags(tags):
            counts[tag.lower()] = counts.get(tag.lower(), 0) + messages
    return {name: counts.get(name.lower(), 0) for name in names}
