"""Mailpit's WebSocket feed at ``/api/events``: ``{"Type": ..., "Data": ...}`` frames.

Mailpit's web UI and clients listen there for ``new`` (the message summary),
``update`` (``{"ID", "Read"}`` or ``{"ID", "Tags"}``), ``delete``
(``{"ID"}``), ``truncate`` (null) and ``stats`` (``{"Total", "Unread",
"Version"}``, at most four a second).

**How it is served beside waitress.**  waitress is a WSGI server and WSGI has
no way to hand a connection over, so the hand-over happens one step before
WSGI: :func:`channel_class` makes a waitress channel that *peeks* at the first
request of each connection (``MSG_PEEK``, nothing is consumed) and, when it
is a ``GET /api/events`` with ``Upgrade: websocket`` whose head came whole,
takes the socket out of waitress's loop and gives it to the
:class:`WebSocketHub`.  A request for the path whose head has not all come
yet (a client or proxy that writes the request line and the headers apart)
goes to the hub too, which reads the rest itself; a plain GET of the path
answers 400 from the Flask route below.  Every other request stays with
waitress unchanged.  The hub runs one asyncio loop thread for every connection and
speaks the protocol with ``wsproto``: a sans-I/O implementation (python-hyper,
the one h11-based servers such as Hypercorn use) is what fits a socket that
arrives already accepted; ``websockets`` wants to own the listening socket,
and ``flask-sock``/``simple-websocket`` need a server that exposes the raw
socket to the WSGI app, which waitress does not.

**Origin is checked** (Mailpit CVE-2026-22689 accepted every origin, so any
web page could read the mailbox live): a browser's ``Origin`` must be this
server itself or a ``--cors-origin``; clients that send none (scripts) are
let in.  The Host header is checked as
for every HTTP request.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import logging
import socket
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint
from waitress.channel import HTTPChannel
from wsproto import ConnectionType, WSConnection
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Ping,
    RejectConnection,
    RejectData,
    Request,
    TextMessage,
)
from wsproto.utilities import RemoteProtocolError

from mailsink import __version__
from mailsink.config import Settings
from mailsink.credentials import Credentials
from mailsink.events import Event, EventThread, Subscription
from mailsink.mailbox import Mailbox
from mailsink.web.errors import ApiError

log = logging.getLogger(__name__)

bp = Blueprint("websocket", __name__)

PATH = "/api/events"
MAX_CLIENTS = 100
MAX_HEAD = 16 * 1024
HANDSHAKE_SECONDS = 10.0
"""The whole upgrade request must arrive within this (a head sent in pieces included)."""
MAX_INCOMING = 64 * 1024
"""Bytes of data messages a client may send (the feed is one-way; clients send none)."""
QUEUE_FRAMES = 1_000
"""Frames waiting for one slow client before it is disconnected (as Mailpit does)."""
STATS_INTERVAL = 0.25
PING_INTERVAL = 30.0


@bp.get(PATH)
def events_without_upgrade() -> Any:
    """Answer a plain GET (or an upgrade that did not reach the hub) with a 400."""
    raise ApiError(
        "this is Mailpit's WebSocket feed: connect with a WebSocket client; "
        "Server-Sent Events are at /api/v1/events"
    )


def is_upgrade_head(head: bytes) -> bool:
    """Tell whether peeked bytes hold a whole WebSocket upgrade request for ``PATH``."""
    if not head.startswith(b"GET " + PATH.encode()) or b"\r\n\r\n" not in head:
        return False
    target = head[4 : head.index(b" ", 4)] if b" " in head[4:] else b""
    if target.split(b"?", 1)[0] != PATH.encode():
        return False
    lines = head.split(b"\r\n\r\n", 1)[0].lower().split(b"\r\n")
    return any(
        line.startswith(b"upgrade:") and b"websocket" in line.split(b":", 1)[1] for line in lines
    )


def is_partial_head_for_path(head: bytes) -> bool:
    """Tell whether peeked bytes start a request for ``PATH`` whose head is not complete yet.

    Only the hub can wait for the rest without consuming it: waitress would read
    it as an ordinary request. A complete head that is no upgrade stays with waitress.
    """
    start = b"GET " + PATH.encode()
    return (
        head.startswith(start)
        and head[len(start) : len(start) + 1] in (b" ", b"?")
        and (b"\r\n\r\n" not in head)
    )


def channel_class(hub: WebSocketHub, base: type[HTTPChannel] = HTTPChannel) -> type[HTTPChannel]:
    """Return a waitress channel class that hands WebSocket upgrades of ``PATH`` to ``hub``.

    ``base`` is the channel class the server had (the per-peer connection cap's), so
    both apply; a handed-over connection gives its per-peer place back (``del_channel``)
    and counts against the hub's ``MAX_CLIENTS`` instead.
    """

    class UpgradingChannel(base):  # type: ignore[misc]
        """A waitress channel that gives its socket to the hub when asked to upgrade."""

        peeked = False

        def handle_read(self) -> None:
            if not self.peeked:
                self.peeked = True  # only a connection's first request can be handed over
                try:
                    head = self.socket.recv(MAX_HEAD, socket.MSG_PEEK)
                except OSError:
                    head = b""
                if is_upgrade_head(head) or is_partial_head_for_path(head):
                    sock = self.socket
                    self.del_channel()  # out of waitress's loop; the socket stays open
                    self.connected = False
                    hub.adopt(sock)
                    return
            super().handle_read()

    return UpgradingChannel


class WebSocketHub:
    """Serve every WebSocket client from one asyncio loop; fan mailbox events out to them.

    Building it starts nothing; :meth:`start` starts the loop thread and the
    thread that turns mailbox events into frames, :meth:`stop` closes every
    connection and both threads.
    """

    def __init__(
        self,
        mailbox: Mailbox,
        settings: Settings,
        summary: Callable[[Any], dict[str, Any]],
        credentials: Credentials | None = None,
    ) -> None:
        """``credentials``: the ``--ui-auth`` logins an upgrade must present (None: no login).

        Upgrades reach the hub without passing Flask, so the login check that
        guards every other route is made here too.
        """
        from mailsink.web.app import allowed_host_names

        self.mailbox = mailbox
        self.settings = settings
        self.credentials = credentials
        self.summary = summary
        self.allowed_hosts = allowed_host_names(settings)
        self.clients: set[asyncio.Queue[str | None]] = set()
        self.loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: threading.Thread | None = None
        self._handshaking = 0
        """Connections whose upgrade request has not all arrived (on the loop only)."""
        # Inactive with no browser connected: another node's mail need not be fetched for it.
        self._follower = EventThread(
            "mailsink-websocket-events", self._forward, active=lambda: bool(self.clients)
        )
        self._ready = threading.Event()

    @property
    def running(self) -> bool:
        """Tell whether start() was called and stop() was not."""
        return self.loop is not None

    def start(self) -> WebSocketHub:
        """Start the loop and the event thread (idempotent); return self."""
        if self.loop is None:
            self.loop = asyncio.new_event_loop()
            self._loop_thread = threading.Thread(
                target=self._run_loop, name="mailsink-websocket", daemon=True
            )
            self._loop_thread.start()
            self._follower.start(self.mailbox.events)
            self._ready.wait(5)
        return self

    def stop(self) -> None:
        """Close every connection (1001, going away) and stop both threads."""
        loop, self.loop = self.loop, None
        self._follower.stop()
        if loop is not None:
            # RuntimeError: the loop already ended; a timeout: clients too slow to say goodbye.
            with contextlib.suppress(RuntimeError, concurrent.futures.TimeoutError):
                asyncio.run_coroutine_threadsafe(self._close_all(), loop).result(timeout=3)
            loop.call_soon_threadsafe(loop.stop)
        if self._loop_thread is not None:
            self._loop_thread.join(timeout=5)
            self._loop_thread = None
        if loop is not None and not loop.is_running():
            loop.close()

    def adopt(self, sock: socket.socket) -> None:
        """Take a connection whose first request is an upgrade (called on waitress's loop)."""
        loop = self.loop
        try:
            if loop is None:
                raise RuntimeError("the hub is not running")
            loop.call_soon_threadsafe(lambda: loop.create_task(self._serve(sock)))
        except RuntimeError:  # stopped (or stopping): nobody will serve it
            sock.close()

    # -- the loop thread ---------------------------------------------------------------------

    def _run_loop(self) -> None:
        loop = self.loop
        assert loop is not None
        asyncio.set_event_loop(loop)
        loop.call_soon(self._ready.set)
        loop.run_forever()
        # Let the connection tasks see their sockets close.
        pending = asyncio.all_tasks(loop)
        for task in pending:
            task.cancel()
        if pending:
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))

    async def _close_all(self) -> None:
        for queue in list(self.clients):
            with contextlib.suppress(asyncio.QueueFull):
                queue.put_nowait(None)
        deadline = time.monotonic() + 2
        while self.clients and time.monotonic() < deadline:
            await asyncio.sleep(0.01)

    def refusal(self, request: Request) -> tuple[int, str] | None:
        """Return (status, reason) to refuse a handshake, or None to accept it."""
        from mailsink.web.app import host_is_allowed

        if not host_is_allowed(request.host, self.allowed_hosts):
            return 400, "Host header not allowed; add the name with --allowed-hosts"
        if urlsplit(request.target).path != PATH:
            return 404, "not found"
        headers = {name.lower(): value for name, value in request.extra_headers}
        if self.credentials:
            authorization = headers.get(b"authorization", b"").decode("latin-1")
            if self.credentials.check(authorization or None) is None:
                return 401, "login required"
        origin = headers.get(b"origin", b"").decode("latin-1").strip()
        if origin and not self.origin_allowed(origin, request.host):
            return 403, f"Origin {origin[:100]!r} may not read this mailbox (see --cors-origin)"
        if len(self.clients) >= MAX_CLIENTS:
            return 503, f"too many WebSocket clients (at most {MAX_CLIENTS})"
        return None

    def origin_allowed(self, origin: str, host: str) -> bool:
        """Tell whether a browser page from ``origin`` may connect: same host, or allowed."""
        origins = self.settings.cors_origins
        if "*" in origins or origin in origins:
            return True
        return urlsplit(origin).netloc.lower() == host.strip().lower()

    async def _serve(self, sock: socket.socket) -> None:
        """Run one connection: handshake, then frames out, control frames in."""
        loop = asyncio.get_running_loop()
        sock.setblocking(False)
        ws = WSConnection(ConnectionType.SERVER)
        queue: asyncio.Queue[str | None] = asyncio.Queue(QUEUE_FRAMES)
        try:
            if self._handshaking >= MAX_CLIENTS:  # a flood of unfinished upgrade requests
                return
            self._handshaking += 1
            try:
                accepted = await asyncio.wait_for(
                    self._handshake(loop, sock, ws), timeout=HANDSHAKE_SECONDS
                )
            finally:
                self._handshaking -= 1
            if not accepted:
                return
            self.clients.add(queue)
            await self._send(loop, sock, ws, self._stats_frame())
            reader = loop.create_task(self._read(loop, sock, ws, queue))
            try:
                await self._write(loop, sock, ws, queue)
            finally:
                reader.cancel()
        except (OSError, asyncio.CancelledError, ConnectionError):
            pass
        except Exception:  # a protocol error from one client ends only that connection
            log.debug("WebSocket connection failed", exc_info=True)
        finally:
            self.clients.discard(queue)
            with contextlib.suppress(OSError):
                sock.close()

    async def _handshake(
        self, loop: asyncio.AbstractEventLoop, sock: socket.socket, ws: WSConnection
    ) -> bool:
        """Read the upgrade request and accept or refuse it; tell whether it was accepted."""
        received = 0
        while received < MAX_HEAD:
            data = await loop.sock_recv(sock, 4096)  # _serve bounds the whole handshake
            if not data:
                return False
            received += len(data)
            try:
                ws.receive_data(data)
                events = list(ws.events())
            except RemoteProtocolError as error:  # a malformed upgrade request
                body = json.dumps({"Error": f"bad WebSocket upgrade: {error}"[:200]}).encode()
                await loop.sock_sendall(sock, _plain_response(400, body))
                return False
            for event in events:
                if isinstance(event, Request):
                    refused = self.refusal(event)
                    if refused is None:
                        await loop.sock_sendall(sock, ws.send(AcceptConnection()))
                        return True
                    status, reason = refused
                    body = json.dumps({"Error": reason}).encode()
                    headers = [
                        (b"content-type", b"application/json"),
                        (b"content-length", str(len(body)).encode()),
                    ]
                    refusal = RejectConnection(status_code=status, headers=headers, has_body=True)
                    await loop.sock_sendall(sock, ws.send(refusal) + ws.send(RejectData(data=body)))
                    return False
        return False

    async def _read(
        self,
        loop: asyncio.AbstractEventLoop,
        sock: socket.socket,
        ws: WSConnection,
        queue: asyncio.Queue[str | None],
    ) -> None:
        """Answer pings and a close; end the connection on a close or too much data."""
        incoming = 0
        while True:
            data = await loop.sock_recv(sock, 4096)
            ws.receive_data(data or None)
            for event in ws.events():
                if isinstance(event, Ping):
                    await loop.sock_sendall(sock, ws.send(event.response()))
                elif isinstance(event, CloseConnection):
                    with contextlib.suppress(Exception):
                        await loop.sock_sendall(sock, ws.send(event.response()))
                    self._end(queue)
                    return
                elif isinstance(event, TextMessage | BytesMessage):
                    incoming += len(event.data)
                    if incoming > MAX_INCOMING:
                        await loop.sock_sendall(
                            sock, ws.send(CloseConnection(1009, "this feed reads nothing"))
                        )
                        self._end(queue)
                        return
            if not data:
                self._end(queue)
                return

    def _end(self, queue: asyncio.Queue[str | None]) -> None:
        """Tell a connection's writer to stop."""
        self.clients.discard(queue)
        with contextlib.suppress(asyncio.QueueFull):
            queue.put_nowait(None)

    async def _write(
        self,
        loop: asyncio.AbstractEventLoop,
        sock: socket.socket,
        ws: WSConnection,
        queue: asyncio.Queue[str | None],
    ) -> None:
        """Send queued frames (and a ping when idle) until told to stop."""
        while True:
            try:
                frame = await asyncio.wait_for(queue.get(), timeout=PING_INTERVAL)
            except asyncio.TimeoutError:
                await loop.sock_sendall(sock, ws.send(Ping()))
                continue
            if frame is None:
                if queue in self.clients or self.loop is None:  # stopping: say goodbye
                    with contextlib.suppress(Exception):
                        await loop.sock_sendall(sock, ws.send(CloseConnection(1001, "stopping")))
                return
            await self._send(loop, sock, ws, frame)

    @staticmethod
    async def _send(
        loop: asyncio.AbstractEventLoop, sock: socket.socket, ws: WSConnection, frame: str
    ) -> None:
        await asyncio.wait_for(loop.sock_sendall(sock, ws.send(TextMessage(frame))), timeout=10)

    def _broadcast(self, frames: list[str]) -> None:
        """Queue frames for every client; a client too far behind is disconnected."""
        for queue in list(self.clients):
            try:
                for frame in frames:
                    queue.put_nowait(frame)
            except asyncio.QueueFull:
                self.clients.discard(queue)
                queue.get_nowait()
                queue.put_nowait(None)

    # -- the event thread --------------------------------------------------------------------

    def _forward(self, sub: Subscription) -> None:
        """Turn mailbox events into frames for the loop; a ``stats`` frame at most 4 a second."""
        stats_due: float | None = None
        while True:
            timeout = None if stats_due is None else max(0.0, stats_due - time.monotonic())
            event = sub.get(timeout=timeout)
            frames: list[str] = []
            if event is not None:
                if event.kind == "close":
                    return
                frames = self.frames(event) if self.clients else []
                if sub.overflowed:
                    sub.overflowed = False
                    frames = [_frame("prune", None)]  # fell behind: tell the UI to reload
                if stats_due is None:
                    stats_due = time.monotonic() + STATS_INTERVAL
            if stats_due is not None and time.monotonic() >= stats_due:
                stats_due = None
                if self.clients:
                    frames.append(self._stats_frame())
            loop = self.loop
            if frames and loop is not None:
                with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                    loop.call_soon_threadsafe(self._broadcast, frames)

    def frames(self, event: Event) -> list[str]:
        """Return Mailpit's frames for one mailbox event."""
        if event.kind == "new":
            return [_frame("new", self.summary(event.message))]
        if event.kind == "truncate":
            return [_frame("truncate", None)]
        if event.kind == "update":
            change = event.changed
            data: dict[str, Any] = {}
            if change.read is not None:
                data["Read"] = change.read
            if change.tags is not None:
                data["Tags"] = list(change.tags)
            if not data:  # a tag renamed or deleted: Mailpit sends "prune" (reload the list)
                return [_frame("prune", None)]
            return [_frame("update", {"ID": message_id, **data}) for message_id in change.ids]
        if event.kind == "delete":
            return [_frame("delete", {"ID": message_id}) for message_id in event.changed.ids]
        return []

    def _stats_frame(self) -> str:
        store = self.mailbox.store
        return _frame(
            "stats", {"Total": store.count(), "Unread": store.unread(), "Version": __version__}
        )


def _plain_response(status: int, body: bytes) -> bytes:
    """Return a whole HTTP/1.1 response with a JSON body, for when wsproto cannot make one."""
    head = (
        f"HTTP/1.1 {status} Bad Request\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    return head.encode() + body


def _frame(kind: str, data: Any) -> str:
    return json.dumps({"Type": kind, "Data": data}, separators=(",", ":"))
