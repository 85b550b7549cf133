"""The mailbox: a store plus the event bus, so every change is announced.

Everything that changes mail goes through here (the listener's ingest, the
API, the pytest fixture), which is what keeps the SSE stream, server-side
waits and fixture waits consistent with the store.  A store that other
nodes share (:class:`~mailsink.store.base.SharedStore`) reports their
changes, which the mailbox publishes on the same bus.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mailsink.events import Changed, EventBus, EventData, EventKind, Truncated
from mailsink.store.base import LoopStore, SharedStore, StoredMessage

if TYPE_CHECKING:
    from collections.abc import Iterable

    from mailsink.store.base import Incoming, MessageStore


class Mailbox:
    """Change a store and publish what changed."""

    def __init__(self, store: MessageStore, events: EventBus | None = None) -> None:
        self.store = store
        self.events = events or EventBus()
        self._loop_store = store if isinstance(store, LoopStore) else None
        """The store, if it can store from an event loop (:meth:`add_async`)."""
        if isinstance(store, SharedStore):
            # Other nodes' changes reach this node's subscribers too (not its own:
            # the store drops those, they are published below), marked remote; the
            # store asks the bus first whether anyone here would read them.
            store.follow(self._publish_remote, self.events.wants_remote)

    @property
    def stores_from_loop(self) -> bool:
        """Tell whether :meth:`add_async` stores without a thread (a :class:`LoopStore`)."""
        return self._loop_store is not None

    def _publish_remote(self, kind: EventKind, data: EventData) -> None:
        """Publish a change another node of a shared store made."""
        self.events.publish(kind, data, remote=True)

    def add(self, batch: list[Incoming]) -> list[StoredMessage]:
        """Store a batch, then announce the new messages and any pruned ones."""
        return self._announce_added(batch, self.store.add(batch))

    async def add_async(self, batch: list[Incoming]) -> list[StoredMessage]:
        """Store a batch from an event loop (a :class:`LoopStore`), then announce it."""
        if self._loop_store is None:
            raise TypeError(f"{type(self.store).__name__} cannot store from an event loop")
        return self._announce_added(batch, await self._loop_store.add_async(batch))

    def _announce_added(self, batch: list[Incoming], pruned: list[str]) -> list[StoredMessage]:
        """Announce a stored batch and what it pruned; return the records still stored."""
        gone = set(pruned)
        stored = [
            StoredMessage(
                item.id, item.received, item.envelope, item.summary, False, item.summary.tags
            )
            for item in batch
            if item.id not in gone
        ]
        if pruned:
            self.events.publish("delete", Changed(tuple(pruned)))
        for message in stored:
            self.events.publish("new", message)
        return stored

    def delete(self, ids: Iterable[str]) -> list[str]:
        """Delete messages and announce the IDs that existed."""
        deleted = self.store.delete(ids)
        if deleted:
            self.events.publish("delete", Changed(tuple(deleted)))
        return deleted

    def clear(self) -> int:
        """Delete every message and announce it."""
        count = self.store.clear()
        self.events.publish("truncate", Truncated(count))
        return count

    def set_read(self, ids: Iterable[str], read: bool) -> list[str]:
        """Mark messages read or unread and announce the changes."""
        changed = self.store.set_read(ids, read)
        if changed:
            self.events.publish("update", Changed(tuple(changed), read=read))
        return changed

    def set_tags(self, ids: Iterable[str], tags: Iterable[str]) -> list[str]:
        """Replace messages' tags and announce the changes."""
        tag_list = tuple(tags)
        changed = self.store.set_tags(ids, tag_list)
        if changed:
            self.events.publish("update", Changed(tuple(changed), tags=tag_list))
        return changed

    def rename_tag(self, old: str, new: str) -> list[str]:
        """Rename a tag everywhere and announce the messages changed."""
        changed = self.store.rename_tag(old, new)
        if changed:
            self.events.publish("update", Changed(tuple(changed)))
        return changed

    def delete_tag(self, tag: str) -> list[str]:
        """Remove a tag everywhere and announce the messages changed."""
        changed = self.store.delete_tag(tag)
        if changed:
            self.events.publish("update", Changed(tuple(changed)))
        return changed
