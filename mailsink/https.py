"""HTTPS for the web server (``--ui-tls``): a small TLS front before waitress.

waitress speaks no TLS, and wrapping its listening socket does not work: its
non-blocking loop reads ``SSLWantReadError`` (errno 2) as a dropped
connection.  :class:`TLSFront` instead listens on the web address itself,
does the handshake on an asyncio loop of its own (one thread, any number of
connections) and pipes the plain bytes, as they come, to waitress on a Unix
socket in a private folder (mode 0700) that nothing else can reach.  Piping
chunk by chunk keeps Server-Sent Events live: an event is forwarded the
moment waitress writes it.  waitress is told the scheme is https, so the URLs
Flask builds are right.

A failed handshake (an untrusted certificate, plain HTTP sent to the HTTPS
port) is one log line, never a traceback.  HSTS is not sent: this is a
development tool on hosts whose names change.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
import threading

from mailsink.loop_thread import run_until_stopped, stop_loop_thread

log = logging.getLogger(__name__)

HANDSHAKE_TIMEOUT = 10.0
CHUNK = 65536


def web_server_context(cert: str, key: str | None) -> ssl.SSLContext:
    """Return the server context for HTTPS (TLS 1.2 or newer)."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert, key or cert)
    context.set_alpn_protocols(["http/1.1"])
    return context


class TLSFront:
    """Accept TLS on (host, port) and pipe each connection to a Unix socket."""

    def __init__(self, host: str, port: int, context: ssl.SSLContext, backend: str) -> None:
        self.host = host
        self.port = port
        self.context = context
        self.backend = backend
        self.address: tuple[str, int] = (host, port)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=run_until_stopped, args=(self._loop,), name="mailsink-https", daemon=True
        )
        self._socket: socket.socket | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def start(self) -> None:
        """Bind the port and start serving; raises if it cannot be bound."""
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(self._listen(), self._loop)
        try:
            future.result(timeout=30)
        except BaseException:
            self.stop()
            raise

    async def _listen(self) -> None:
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        listening = socket.create_server((self.host, self.port), family=family)
        listening.setblocking(False)
        self._socket = listening
        sockname = listening.getsockname()
        self.address = (str(sockname[0]), int(sockname[1]))
        self._tasks.add(self._loop.create_task(self._accept(listening)))

    async def _accept(self, listening: socket.socket) -> None:
        while True:
            try:
                client, peer = await self._loop.sock_accept(listening)
            except OSError:
                return  # closed by stop()
            # Small writes (an SSE event) must not wait for the peer's delayed ACK (Nagle).
            client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            task = self._loop.create_task(self._handle(client, peer))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _handle(self, client: socket.socket, peer: object) -> None:
        # The handshake is awaited here, so that a failure is ours to log in one line
        # (a server made by start_server(ssl=...) drops it silently, and
        # StreamWriter.start_tls loses a ClientHello that came in before it was called).
        reader = asyncio.StreamReader(limit=CHUNK, loop=self._loop)
        protocol = asyncio.StreamReaderProtocol(reader, loop=self._loop)
        try:
            transport, _ = await self._loop.connect_accepted_socket(
                lambda: protocol, client, ssl=self.context, ssl_handshake_timeout=HANDSHAKE_TIMEOUT
            )
        except (ssl.SSLError, OSError, asyncio.TimeoutError) as error:
            reason = str(error) or type(error).__name__
            log.warning("HTTPS handshake with %s failed: %s", _peer(peer), reason)
            client.close()
            return
        writer = asyncio.StreamWriter(transport, protocol, reader, self._loop)
        try:
            up_reader, up_writer = await asyncio.open_unix_connection(self.backend)
        except OSError as error:
            log.warning("HTTPS: the web server is not reachable: %s", error)
            transport.abort()
            return
        await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))

    def stop(self) -> None:
        """Close the listening socket and every connection; stop the thread."""
        if not self._thread.is_alive():
            return

        async def shutdown() -> None:
            if self._socket is not None:
                self._socket.close()

        stop_loop_thread(self._loop, self._thread, shutdown, "the HTTPS front")


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Copy bytes as they arrive until either side ends; then close the writer."""
    try:
        while data := await reader.read(CHUNK):
            writer.write(data)
            await writer.drain()
    except (OSError, ssl.SSLError, asyncio.IncompleteReadError):
        pass
    finally:
        with contextlib.suppress(OSError, ssl.SSLError, RuntimeError):
            writer.close()


def _peer(peer: object) -> str:
    if isinstance(peer, tuple) and len(peer) >= 2:
        host, port = peer[0], peer[1]
        return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"
    return str(peer or "")
