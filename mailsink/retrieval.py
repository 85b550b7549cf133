"""The POP3 and IMAP listeners: their servers on one event loop thread of their own.

Why not the SMTP listener's loop: sessions here read the store synchronously
(a SQLite read, a 10 MB raw message), and that must never delay an SMTP
client's 250.  Why not a thread per connection: IDLE keeps connections open
for hours, and asyncio makes the caps (connections, line length, idle
timeout) one place each.

Why our own protocol code rather than a library (evaluated for issue 16):

* Twisted's ``twisted.mail.imap4``/``pop3`` servers are complete, but run on
  Twisted's reactor, which is one per process and cannot be restarted once
  stopped (``ReactorNotRestartable``): the pytest plugin and the test suite
  start and stop many sinks in one process.  Bridging it to asyncio
  (``asyncioreactor``) still installs a process-global reactor, and its
  mailbox model (``IMailbox`` / ``IMessage`` via zope.interface) would sit
  beside the store contract as a second one; it is also a large dependency
  for a sink that otherwise needs four.
* pymap is asyncio-native and well structured, but IMAP only (POP3 would be
  ours anyway), built to run as its own server with its own backends that own
  flags, UIDs and mailboxes; adapting our store to its backend interfaces
  meant mapping two models of the same state, for a client surface (one
  INBOX, read/flag/delete, no APPEND) that is small enough to write and test.
* Written here on asyncio: the caps, the exact-bytes serving (sections are
  byte ranges of the stored message) and the store contract are ours.

Mailbox events reach IMAP sessions through one bridge thread: it waits on an
:class:`~mailsink.events.Subscription` and hands each event to the loop, so a
client idling in IMAP IDLE hears of new mail within a millisecond or so of
the store commit (before the SMTP client even has its 250).
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from mailsink.events import Event, EventThread, Subscription
from mailsink.lines import Connection
from mailsink.loop_thread import run_until_stopped, stop_loop_thread
from mailsink.readers import ReaderContext

log = logging.getLogger(__name__)

SessionRunner = Callable[[Connection, ReaderContext, "ReaderListener"], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One listening socket to open: protocol, address, and whether TLS is implicit."""

    name: str
    """``pop3``, ``pop3s``, ``imap`` or ``imaps`` (the key of :attr:`ReaderListener.addresses`)."""
    host: str
    port: int
    implicit_tls: bool


class ReaderListener:
    """Serve POP3 and IMAP endpoints on a loop thread; forward mailbox events to sessions."""

    def __init__(
        self,
        context: ReaderContext,
        endpoints: list[Endpoint],
        max_connections: int = 100,
        implicit_tls: ssl.SSLContext | None = None,
    ) -> None:
        """Prepare the endpoints; ``implicit_tls`` serves ``pop3s``/``imaps``."""
        self.context = context
        self.implicit_tls = implicit_tls
        self.endpoints = endpoints
        self.max_connections = max_connections
        self.loop = asyncio.new_event_loop()
        self.addresses: dict[str, tuple[str, int]] = {}
        self.connections = 0
        self.listeners: set[Callable[[Event | None], None]] = set()
        """Callbacks (IMAP sessions with a mailbox selected) told of every mailbox event."""
        self._servers: list[asyncio.Server] = []
        self._sessions: dict[asyncio.Task[None], Connection] = {}
        self._thread = threading.Thread(
            target=run_until_stopped, args=(self.loop,), name="mailsink-readers", daemon=True
        )
        # Inactive while no IMAP session has a mailbox selected (see _forward).
        self._bridge = EventThread(
            "mailsink-events", self._forward, active=lambda: bool(self.listeners)
        )

    def start(self) -> None:
        """Bind every endpoint and start serving; raises if one cannot be bound."""
        self._thread.start()
        try:
            asyncio.run_coroutine_threadsafe(self._bind(), self.loop).result(timeout=30)
        except BaseException:
            self.stop()
            raise
        self._bridge.start(self.context.mailbox.events)

    async def _bind(self) -> None:
        for endpoint in self.endpoints:
            tls = None
            if endpoint.implicit_tls:
                tls = self.implicit_tls
                if tls is None:
                    raise ValueError(f"{endpoint.name} needs a TLS certificate")
            server = await asyncio.start_server(
                self._client(endpoint),
                endpoint.host,
                endpoint.port,
                ssl=tls,
                limit=64 * 1024,
                ssl_handshake_timeout=30 if tls else None,
            )
            self._servers.append(server)
            sockname = server.sockets[0].getsockname()
            self.addresses[endpoint.name] = (str(sockname[0]), int(sockname[1]))

    def _client(
        self, endpoint: Endpoint
    ) -> Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]:
        from mailsink.imap.session import run_imap
        from mailsink.pop3 import run_pop3

        runner: SessionRunner = run_pop3 if endpoint.name.startswith("pop3") else run_imap

        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            conn = Connection(reader, writer, self.context.idle_timeout)
            if self.connections >= self.max_connections:
                refusal = b"-ERR " if runner is run_pop3 else b"* BYE "
                conn.write(refusal + b"[SYS/TEMP] too many connections, try again later\r\n")
                await conn.close()
                return
            self.connections += 1
            task = asyncio.current_task()
            if task is not None:
                self._sessions[task] = conn
            try:
                await runner(conn, self.context, self)
            except Exception:
                log.exception("%s session from %s failed", endpoint.name, conn.peer)
            finally:
                self.connections -= 1
                if task is not None:
                    self._sessions.pop(task, None)
                await conn.close()

        return serve

    def _forward(self, sub: Subscription) -> None:
        """Bridge thread: hand mailbox events to the loop's sessions, in batches.

        Events that queued up meanwhile go in one hand-off, and none at all
        while no IMAP session has a mailbox selected (a SELECT reads the store
        afresh), so a burst of SMTP mail costs the loop next to nothing.
        """
        while True:
            event = sub.get()
            batch: list[Event | None] = [event]
            while len(batch) < 1000 and (more := sub.get(timeout=0)) is not None:
                batch.append(more)
            if sub.overflowed:
                sub.overflowed = False
                batch = [None]  # some were lost: every session resynchronises
            ending = any(e is not None and e.kind == "close" for e in batch)
            batch = [e for e in batch if e is None or e.kind != "close"]
            if ending:
                return
            if not batch or not self.listeners:
                continue
            try:
                self.loop.call_soon_threadsafe(self._dispatch, batch)
            except RuntimeError:  # the loop is closed: stopping
                return

    def _dispatch(self, events: list[Event | None]) -> None:
        for listener in list(self.listeners):
            for event in events:
                listener(event)

    def stop(self) -> None:
        """Close the servers and every session, and stop both threads."""
        self._bridge.stop(timeout=2)
        if self._thread.is_alive():

            async def shutdown() -> None:
                for server in self._servers:
                    server.close()
                # Cut every connection and let its session end on its own: a
                # cancelled stream handler task makes asyncio log an error.
                for conn in list(self._sessions.values()):
                    conn.writer.transport.abort()
                if self._sessions:
                    await asyncio.wait(list(self._sessions), timeout=3)

            stop_loop_thread(self.loop, self._thread, shutdown, "POP3/IMAP servers")
        if not self._thread.is_alive() and not self.loop.is_closed():
            self.loop.close()
