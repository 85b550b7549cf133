"""The life cycle every bus-following thread shares (``mailsink.events.EventThread``)."""

from __future__ import annotations

import threading
import time

from mailsink.events import QUEUE_SIZE, Event, EventBus, EventKind, EventThread, Subscription


def _collector(
    kinds: tuple[EventKind, ...] | None = None,
) -> tuple[list[Event], threading.Event, EventThread]:
    seen: list[Event] = []
    ended = threading.Event()

    def body(sub: Subscription) -> None:
        for event in sub.until_close():
            seen.append(event)
        ended.set()

    return seen, ended, EventThread("test-follower", body, kinds=kinds)


def test_it_sees_every_event_after_start_and_leaves_the_bus_on_stop() -> None:
    bus = EventBus()
    seen, ended, follower = _collector()
    bus.publish("resync")  # before start: not seen
    follower.start(bus)
    assert bus.subscriber_count == 1  # subscribed before the thread runs: nothing slips by
    for _ in range(3):
        bus.publish("resync")
    follower.stop()
    assert ended.is_set() and not follower.running
    assert [e.seq for e in seen] == [2, 3, 4]  # what was queued is handled, then it ends
    assert bus.subscriber_count == 0


def test_the_bus_closing_ends_the_thread_and_it_leaves() -> None:
    bus = EventBus()
    _, ended, follower = _collector()
    follower.start(bus)
    bus.close()
    assert ended.wait(5)
    deadline = time.monotonic() + 5
    while bus.subscriber_count and time.monotonic() < deadline:
        time.sleep(0.01)
    assert bus.subscriber_count == 0


def test_stop_ends_a_reader_even_when_its_queue_is_full() -> None:
    bus = EventBus()
    release = threading.Event()
    handled: list[int] = []

    def slow(sub: Subscription) -> None:
        release.wait(5)  # the queue fills while the reader is busy
        for event in sub.until_close():
            handled.append(event.seq)

    follower = EventThread("test-slow", slow)
    follower.start(bus)
    for _ in range(QUEUE_SIZE + 5):
        bus.publish("resync")
    follower_thread = next(t for t in threading.enumerate() if t.name == "test-slow")
    stopper = threading.Thread(target=follower.stop)
    stopper.start()  # the close does not fit in the full queue
    time.sleep(0.1)
    release.set()
    stopper.join(10)
    assert not follower_thread.is_alive()  # it ended once the queue was empty
    assert len(handled) == QUEUE_SIZE  # everything that fitted was handled


def test_start_and_stop_are_idempotent() -> None:
    bus = EventBus()
    _, _, follower = _collector()
    follower.stop()  # never started: nothing to do
    follower.start(bus)
    follower.start(bus)
    assert bus.subscriber_count == 1
    follower.stop()
    follower.stop()
    assert bus.subscriber_count == 0


def test_a_thread_that_names_kinds_is_given_only_those_and_close() -> None:
    bus = EventBus()
    seen, ended, follower = _collector(kinds=("delete", "truncate"))
    follower.start(bus)
    sub = follower._subscription
    assert sub is not None
    published: tuple[EventKind, ...] = ("new", "update", "delete", "resync", "truncate", "new")
    for kind in published:
        bus.publish(kind)
    assert sub.events.qsize() <= 2  # the others never reached its queue (nor woke it)
    bus.close()
    assert ended.wait(5)
    assert [e.kind for e in seen] == ["delete", "truncate"]
    assert bus.subscriber_count == 0


def test_the_bus_tells_which_kinds_of_other_nodes_events_someone_would_read() -> None:
    bus = EventBus()
    assert not bus.wants_remote("new")  # nobody subscribed
    own_mail_only = bus.subscribe(kinds=("new", "delete"), remote_kinds=("delete",))
    assert (bus.wants_remote("new"), bus.wants_remote("delete")) == (False, True)
    readers = 0
    everything = bus.subscribe(active=lambda: readers > 0)
    assert not bus.wants_remote("new")  # subscribed, but nobody reads it now
    readers = 1
    assert bus.wants_remote("new") and bus.wants_remote("update")
    bus.publish("new", remote=True)
    bus.publish("new")
    bus.publish("delete", remote=True)
    assert [e.kind for e in _drain(own_mail_only)] == ["new", "delete"]  # its own new only
    assert [(e.kind, e.remote) for e in _drain(everything)] == [
        ("new", True),
        ("new", False),
        ("delete", True),
    ]
    everything.close()
    own_mail_only.close()
    assert not bus.wants_remote("delete")


def _drain(sub: Subscription) -> list[Event]:
    got = []
    while (event := sub.get(timeout=0)) is not None:
        got.append(event)
    return got
