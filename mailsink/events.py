"""In-process publish/subscribe of mailbox changes.

The listener publishes ``new`` after a message is stored; the API publishes
``update``, ``delete`` and ``truncate``; ``close`` means the sink is stopping.
Subscribers are the SSE stream, the server-side waits and the pytest fixture.
Each subscriber gets its own bounded queue, so a slow reader never blocks the
SMTP side: when its queue is full it is marked ``overflowed`` and can
resynchronise from the store.

A subscriber may name the kinds it wants (``subscribe(kinds=...)``); the
others never reach its queue.  A thread that counts only deletions (the
stats) is then not woken for every received message: each wake-up takes the
GIL from the event loop in the middle of an SMTP session (issue 19).
``close`` reaches every subscriber.

Events from other nodes of a shared store (``remote``) cost more than
local ones: the store fetches each new message's record from the database
to publish it.  So a subscriber also says which kinds it takes from other
nodes (``remote_kinds``: the message log and auto-relay act only on their
own node's mail) and whether anyone reads its events at the moment
(``active``: the WebSocket hub with no browser connected), and the store
asks :meth:`EventBus.wants_remote` before it fetches (issue 17: with two
nodes, fetching every message the other one received had cost each node
about a fifth of its CPU per message).
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Literal

from mailsink.store.base import StoredMessage

QUEUE_SIZE = 10_000

EventKind = Literal["new", "update", "delete", "truncate", "close", "resync"]


@dataclass(frozen=True, slots=True)
class Changed:
    """The data of ``update`` and ``delete``: which messages, and what changed in them."""

    ids: tuple[str, ...]
    read: bool | None = None
    """The new read flag, when that is what changed."""
    tags: tuple[str, ...] | None = None
    """The messages' new tags, when all of them were set to these."""


@dataclass(frozen=True, slots=True)
class Truncated:
    """The data of ``truncate``: every message was deleted."""

    count: int


EventData = StoredMessage | Changed | Truncated | None
"""``new`` carries the stored message; ``update``/``delete`` a :class:`Changed`;
``truncate`` a :class:`Truncated`; ``close`` and ``resync`` nothing."""


@dataclass(frozen=True, slots=True)
class Event:
    """One change: its kind, its typed data, and its place in the bus's order."""

    kind: EventKind
    data: EventData = None
    seq: int = 0
    remote: bool = False
    """Made by another node of a shared store (side effects such as auto-relay skip it:
    the node that received the message does them)."""

    @property
    def message(self) -> StoredMessage:
        """Return the new message of a ``new`` event."""
        assert isinstance(self.data, StoredMessage), f"a {self.kind} event carries no message"
        return self.data

    @property
    def changed(self) -> Changed:
        """Return what an ``update`` or ``delete`` event changed."""
        assert isinstance(self.data, Changed), f"a {self.kind} event carries no change"
        return self.data


@dataclass(eq=False)
class Subscription:
    """A subscriber's queue of events; iterate with :meth:`get`."""

    bus: EventBus
    kinds: frozenset[EventKind] | None = None
    """The kinds this subscriber receives besides ``close``; None: every kind."""
    remote_kinds: frozenset[EventKind] | None = None
    """The kinds it receives from other nodes (within ``kinds``); None: all of ``kinds``."""
    active: Callable[[], bool] | None = None
    """Whether anyone reads its events now; when it says no, other nodes' events may be
    left out (None: always).  Events of this node are always queued."""
    events: queue.Queue[Event] = field(default_factory=lambda: queue.Queue(QUEUE_SIZE))
    overflowed: bool = False
    ending: bool = False
    """Set by :meth:`wake`: once the queue is empty, :meth:`get` answers ``close``."""

    def takes(self, kind: str, remote: bool) -> bool:
        """Tell whether events of ``kind`` (other nodes' when ``remote``) reach this queue."""
        if self.kinds is not None and kind not in self.kinds:
            return False
        return not remote or self.remote_kinds is None or kind in self.remote_kinds

    def get(self, timeout: float | None = None) -> Event | None:
        """Return the next event, or None after ``timeout`` seconds."""
        if self.ending and self.events.empty():
            return Event("close")
        try:
            return self.events.get(timeout=timeout)
        except queue.Empty:
            return None

    def close(self) -> None:
        """Stop receiving events."""
        self.bus.unsubscribe(self)

    def wake(self) -> None:
        """Queue a ``close`` after what is queued, so a reader blocked in :meth:`get` ends.

        When the queue is full the ``close`` does not fit; :meth:`get` then answers
        ``close`` itself once the reader has emptied the queue.
        """
        self.ending = True
        with contextlib.suppress(queue.Full):
            self.events.put_nowait(Event("close"))

    def until_close(self) -> Iterator[Event]:
        """Yield each event, waiting for the next, up to (not including) a ``close``."""
        while True:
            event = self.get()
            if event is None or event.kind == "close":  # None: only with a timeout
                return
            yield event

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class EventBus:
    """Fan events out to every subscriber's queue, never blocking the publisher."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._subscribers: list[Subscription] = []
        self._seq = 0
        self.closed = False

    def close(self) -> None:
        """Send every subscriber a ``close`` event: the sink is stopping.

        Long-lived readers (SSE streams, waits) end on it, so that the web
        server can stop without writing to connections it already closed.
        """
        self.closed = True
        self.publish("close")

    def subscribe(
        self,
        kinds: Iterable[EventKind] | None = None,
        *,
        remote_kinds: Iterable[EventKind] | None = None,
        active: Callable[[], bool] | None = None,
    ) -> Subscription:
        """Return a subscription to every later event (only ``kinds`` and ``close``, if given).

        ``remote_kinds`` and ``active``: see :class:`Subscription`.
        """
        sub = Subscription(
            self,
            None if kinds is None else frozenset(kinds),
            None if remote_kinds is None else frozenset(remote_kinds),
            active,
        )
        with self._lock:
            self._subscribers.append(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        """Remove a subscription; unknown ones are ignored."""
        with self._lock:
            if sub in self._subscribers:
                self._subscribers.remove(sub)

    def publish(self, kind: EventKind, data: EventData = None, *, remote: bool = False) -> Event:
        """Send an event to every subscriber and return it (``remote``: see :class:`Event`)."""
        with self._lock:
            self._seq += 1
            event = Event(kind, data, self._seq, remote)
            subscribers = list(self._subscribers)
        for sub in subscribers:
            if kind != "close" and not sub.takes(kind, remote):
                continue
            try:
                sub.events.put_nowait(event)
            except queue.Full:
                sub.overflowed = True
        return event

    def wants_remote(self, kind: str) -> bool:
        """Tell whether a subscriber would now read an event of ``kind`` from another node."""
        with self._lock:
            subscribers = list(self._subscribers)
        return any(
            sub.takes(kind, remote=True) and (sub.active is None or sub.active())
            for sub in subscribers
        )

    @property
    def subscriber_count(self) -> int:
        """Return how many subscriptions are open."""
        with self._lock:
            return len(self._subscribers)


class EventThread:
    """A thread of its own that reads one subscription until the bus or :meth:`stop` ends it.

    The parts that follow the bus from a thread (the stats counter, the webhook, the
    WebSocket hub, the POP3/IMAP bridge, the "received" log) share its life cycle, which
    is easy to get subtly wrong: subscribe *before* the thread starts, so no event slips
    by; on stop, leave the bus and queue a ``close`` so a reader blocked in ``get`` ends
    after what is already queued; leave the bus when the body returns for any reason,
    since the sink waits for every subscriber to leave when it stops.
    """

    def __init__(
        self,
        name: str,
        body: Callable[[Subscription], None],
        kinds: Iterable[EventKind] | None = None,
        *,
        remote_kinds: Iterable[EventKind] | None = None,
        active: Callable[[], bool] | None = None,
    ) -> None:
        """``kinds``: the only events the thread is given (and ``close``); None: all.

        ``remote_kinds`` and ``active``: see :class:`Subscription`.
        """
        self.name = name
        self._body = body
        self._kinds = None if kinds is None else frozenset(kinds)
        self._remote_kinds = None if remote_kinds is None else frozenset(remote_kinds)
        self._active = active
        self._subscription: Subscription | None = None
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        """Tell whether :meth:`start` was called and :meth:`stop` was not."""
        return self._thread is not None

    def start(self, bus: EventBus) -> None:
        """Subscribe to ``bus`` and start the thread (idempotent)."""
        if self._thread is not None:
            return
        sub = self._subscription = bus.subscribe(
            self._kinds, remote_kinds=self._remote_kinds, active=self._active
        )
        self._thread = threading.Thread(target=self._run, args=(sub,), name=self.name, daemon=True)
        self._thread.start()

    def _run(self, sub: Subscription) -> None:
        try:
            self._body(sub)
        finally:
            sub.close()

    def stop(self, timeout: float = 5.0) -> None:
        """Leave the bus, wake the thread and wait up to ``timeout`` seconds for it to end."""
        thread, self._thread = self._thread, None
        sub, self._subscription = self._subscription, None
        if sub is not None:
            sub.close()
            sub.wake()
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
