"""Push instead of polling: the Server-Sent Events stream and the server-side wait.

Both hold a waitress worker thread while they are open, so together they may
take at most ``http_threads - 4`` threads (503 beyond), the stream sends a
``: keepalive`` comment every 15 s (which is also how a vanished client is
noticed: the write fails and the stream closes), and a wait lasts at most
300 s.

``GET /api/v1/events``: ``event: new`` (data: the message summary),
``update`` ({"IDs", "Read"?, "Tags"?}), ``delete`` ({"IDs"}), ``truncate``
({}) and ``resync`` ({} - this reader fell behind; reload), each data object
with the ``Total`` and ``Unread`` counts after the change.

``GET /api/v1/wait?query=&count=1&timeout=10&since=``: 200 with the matching
messages (oldest first) as soon as ``count`` of them exist, or 408.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

from flask import Blueprint, Response, request

from mailsink.events import Event, Subscription
from mailsink.search import Query, Term
from mailsink.store.base import MAX_PAGE, MessageStore, StoredMessage
from mailsink.web.errors import ApiError
from mailsink.web.params import (
    float_arg,
    int_arg,
    mailbox,
    parse_since,
    search_query,
)
from mailsink.web.serialize import summary_json
from mailsink.web.state import LongRequests, app_state

bp = Blueprint("api_events", __name__)

DEFAULT_WAIT = 10.0
MAX_WAIT = 300.0
_STATE_FIELDS = frozenset({"is", "tag"})


def _hold_thread() -> LongRequests:
    """Take one of the long-request places, or refuse with 503."""
    limiter = app_state().long_requests
    if not limiter.acquire():
        raise ApiError(
            f"too many open event streams and waits (at most {limiter.limit}); try again later",
            503,
        )
    return limiter


def event_data(event: Event, store: MessageStore) -> dict[str, Any]:
    """Return the JSON data of an SSE event, with the counts after the change."""
    data: dict[str, Any]
    if event.kind == "new":
        data = summary_json(event.message)
    elif event.kind in ("update", "delete"):
        change = event.changed
        data = {"IDs": list(change.ids)}
        if change.read is not None:
            data["Read"] = change.read
        if change.tags is not None:
            data["Tags"] = list(change.tags)
    else:
        data = {}
    data["Total"] = store.count()
    data["Unread"] = store.unread()
    return data


def format_event(kind: str, data: dict[str, Any], seq: int | None = None) -> str:
    """Return one SSE frame."""
    head = f"id: {seq}\n" if seq is not None else ""
    return f"{head}event: {kind}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


def _drain(sub: Subscription) -> None:
    """Drop the queued events of a subscriber that overflowed."""
    while sub.get(timeout=0) is not None:
        pass
    sub.overflowed = False


@bp.get("/api/v1/events")
def events() -> Response:
    """Stream mailbox changes as Server-Sent Events until the client goes away."""
    limiter = _hold_thread()
    store = mailbox().store
    sub = mailbox().events.subscribe()
    keepalive = app_state().sse_keepalive
    closed = threading.Event()

    def cleanup() -> None:
        if not closed.is_set():
            closed.set()
            sub.close()
            limiter.release()

    def stream() -> Iterator[str]:
        try:
            yield "retry: 2000\n: connected\n\n"
            while not closed.is_set():
                event = sub.get(timeout=keepalive)
                if event is not None and event.kind == "close":
                    return  # the sink is stopping: end the stream cleanly
                if sub.overflowed:
                    _drain(sub)
                    yield format_event("resync", event_data(Event("resync"), store))
                elif event is None:
                    yield ": keepalive\n\n"
                else:
                    yield format_event(event.kind, event_data(event, store), event.seq)
        finally:
            cleanup()

    response = Response(stream(), mimetype="text/event-stream")
    response.call_on_close(cleanup)  # also when the stream never started
    response.headers["Cache-Control"] = "no-cache"
    response.headers["X-Accel-Buffering"] = "no"  # nginx: do not buffer the stream
    return response


def _since_query(query: Query, since: float) -> Query:
    """Return the query narrowed to messages received at or after ``since``."""
    return Query((*query.terms, Term("after", "", number=since)))


def _newer_than(store: MessageStore, since: float, since_id: str | None) -> set[str] | None:
    """Return the IDs stored after message ``since_id`` (None: compare times instead)."""
    if since_id is None:
        return None
    recent = store.ids(_since_query(Query(()), since))  # newest first, short
    if since_id not in recent:
        return None
    return set(recent[: recent.index(since_id)])


def find_matching(
    store: MessageStore, query: Query, since: tuple[float, str | None] | None
) -> tuple[int, list[StoredMessage]]:
    """Return how many messages match (after ``since``) and up to MAX_PAGE of them, oldest first."""
    if since is None:
        page = store.list(0, MAX_PAGE, query)
        return page.matched, list(reversed(page.items))
    stamp, since_id = since
    page = store.list(0, MAX_PAGE, _since_query(query, stamp))
    newer = _newer_than(store, stamp, since_id)
    if newer is None:
        kept = [m for m in page.items if m.received > stamp]
    else:
        kept = [m for m in page.items if m.id in newer or m.received > stamp]
    return page.matched - len(page.items) + len(kept), list(reversed(kept))


@bp.get("/api/v1/wait")
def wait() -> Any:
    """Return matching messages as soon as ``count`` exist; 408 after ``timeout`` seconds."""
    text = request.args.get("query", "")
    query = search_query()
    count = int_arg("count", 1, maximum=MAX_PAGE)
    if count < 1:
        raise ApiError("count must be at least 1")
    timeout = float_arg("timeout", DEFAULT_WAIT, MAX_WAIT)
    since_text = request.args.get("since", "").strip()
    since = parse_since(since_text) if since_text else None
    box = mailbox()
    store = box.store
    matches = store.matcher(query)
    watches_state = any(term.field in _STATE_FIELDS for term in query.terms)
    limiter = _hold_thread()
    try:
        with box.events.subscribe() as sub:  # before the first look, so nothing slips by
            deadline = time.monotonic() + timeout
            matched, found = find_matching(store, query, since)
            while matched < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise _timed_out(timeout, count, text, matched)
                event = sub.get(timeout=remaining)
                if event is None:
                    continue
                if event.kind == "close":
                    raise ApiError("the sink is stopping", 503)
                relevant = (
                    sub.overflowed
                    or (event.kind == "new" and matches(event.message))
                    or (event.kind == "update" and watches_state)
                )
                if relevant:
                    sub.overflowed = False
                    matched, found = find_matching(store, query, since)
    finally:
        limiter.release()
    return {"messages_count": matched, "messages": [summary_json(m) for m in found]}


def _timed_out(timeout: float, count: int, text: str, matched: int) -> ApiError:
    """Return the 408 that says what was waited for and what was found."""
    what = f"{count} message{'' if count == 1 else 's'}"
    if text.strip():
        what += f" matching {text!r}"
    return ApiError(f"timed out after {timeout:g}s waiting for {what}: found {matched}", 408)
