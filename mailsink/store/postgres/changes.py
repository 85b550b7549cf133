"""Changes across nodes: NOTIFY in each write transaction, one LISTEN thread per node.

Every write transaction of the store also sends ``pg_notify`` on the
store's channel with what it changed (:func:`payloads`).  PostgreSQL
delivers a notification only when its transaction commits, and in commit
order, so a node never hears of a change that did not happen.  Each node
listens on its own connection (:class:`ChangeListener`, a thread blocked
in ``notifies()``: no polling), drops its own notifications (the mailbox
announced those already), and hands the others' to the store, which
publishes them as events.  A notification carries at most ``CHUNK`` IDs;
a bigger change is sent in several.

After the connection is lost and made again, changes may have been missed:
the listener reports a ``resync``, which tells event-stream readers to
reload.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

log = logging.getLogger(__name__)

CHUNK = 200
"""IDs per notification: 200 IDs of 22 characters stay well under PostgreSQL's 8000 bytes."""

RECONNECT_DELAYS = (0.05, 0.1, 0.2, 0.5, 1.0)
"""Seconds between attempts to listen again after the connection broke (the last repeats)."""


@dataclass(frozen=True, slots=True)
class Notice:
    """One change another node committed."""

    kind: str
    """``new``, ``update``, ``delete``, ``truncate``, or ``resync`` after a reconnect."""
    ids: tuple[str, ...] = ()
    read: bool | None = None
    tags: tuple[str, ...] | None = None
    count: int = 0


def payloads(
    node: str,
    kind: str,
    ids: tuple[str, ...] = (),
    *,
    read: bool | None = None,
    tags: tuple[str, ...] | None = None,
    count: int = 0,
) -> Iterator[str]:
    """Return the notification payloads of one change (several for many IDs)."""
    extra: dict[str, Any] = {}
    if read is not None:
        extra["r"] = read
    if tags is not None:
        extra["t"] = list(tags)
    if kind == "truncate":
        yield json.dumps({"n": node, "k": kind, "c": count})
        return
    for start in range(0, len(ids), CHUNK):
        body = {"n": node, "k": kind, "i": list(ids[start : start + CHUNK]), **extra}
        text = json.dumps(body, separators=(",", ":"), ensure_ascii=True)
        if len(text) > 7900:  # only tags can make it so long: send the IDs alone
            body.pop("t", None)
            text = json.dumps(body, separators=(",", ":"))
        yield text


def parse(payload: str, node: str) -> Notice | None:
    """Return the change a payload describes; None for this node's own or a malformed one."""
    try:
        body = json.loads(payload)
        if not isinstance(body, dict) or body.get("n") == node or "k" not in body:
            return None  # ours, or a wake-up call (an empty object)
        kind = str(body["k"])
        tags = body.get("t")
        return Notice(
            kind,
            tuple(str(i) for i in body.get("i", ())),
            read=body.get("r"),
            tags=tuple(str(t) for t in tags) if tags is not None else None,
            count=int(body.get("c", 0)),
        )
    except (ValueError, KeyError, TypeError):
        log.warning("ignored a malformed change notification")
        return None


class ChangeListener:
    """Listen on a channel from a thread of its own and hand other nodes' changes on."""

    def __init__(
        self,
        conninfo: str,
        channel: str,
        node: str,
        handle: Callable[[Notice], None],
        connect_timeout: float = 5.0,
    ) -> None:
        self.conninfo = conninfo
        self.channel = channel
        self.node = node
        self.handle = handle
        self.connect_timeout = connect_timeout
        self.listening = threading.Event()
        """Set while LISTEN is in force (tests wait for it)."""
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._conn: psycopg.Connection[tuple[Any, ...]] | None = None

    def start(self) -> None:
        """Start the thread and wait (briefly) until it listens."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="mailsink-listen", daemon=True)
            self._thread.start()
            self.listening.wait(self.connect_timeout)

    def stop(self, wake: Callable[[], None] | None = None) -> None:
        """Stop the thread; ``wake`` sends a notification so that it notices at once."""
        self._stopping.set()
        if wake is not None and self.listening.is_set():
            with contextlib.suppress(Exception):
                wake()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def _run(self) -> None:
        attempt = 0
        first = True
        while not self._stopping.is_set():
            try:
                with psycopg.connect(
                    self.conninfo,
                    autocommit=True,
                    connect_timeout=max(1, int(self.connect_timeout)),
                ) as conn:
                    conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self.channel)))
                    self.listening.set()
                    attempt = 0
                    if not first:
                        self._deliver(Notice("resync"))  # what happened while deaf is unknown
                    first = False
                    while not self._stopping.is_set():
                        for notify in conn.notifies(timeout=1.0):
                            notice = parse(notify.payload, self.node)
                            if notice is not None:
                                self._deliver(notice)
                            if self._stopping.is_set():
                                break
            except psycopg.Error as error:
                self.listening.clear()
                if self._stopping.is_set():
                    return
                delay = RECONNECT_DELAYS[min(attempt, len(RECONNECT_DELAYS) - 1)]
                if attempt == 0:
                    log.warning("lost the PostgreSQL change feed, reconnecting: %s", error)
                attempt += 1
                self._stopping.wait(delay)
        self.listening.clear()

    def _deliver(self, notice: Notice) -> None:
        """Hand a change on; a failing handler must not end the feed."""
        try:
            self.handle(notice)
        except Exception:
            log.exception("handling a change from another node failed")
