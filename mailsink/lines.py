"""One client connection of a line-based protocol (POP3, IMAP) on asyncio streams.

What both protocols need and must get right the same way: a line length cap
(an overlong line is read to its end and reported, never buffered whole), an
idle timeout on every read, exact reads of literals, and STARTTLS.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl

MAX_LINE = 8192
"""Longest command line accepted (RFC 7162 asks IMAP servers for at least 8000 octets)."""


class LineTooLongError(Exception):
    """A client sent a line over the cap; the rest of it has been read and dropped."""


class ClosedError(Exception):
    """The client went away, or stayed silent past the idle timeout."""


class Connection:
    """Read lines and bytes with caps and a timeout; write replies; upgrade to TLS."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        timeout: float,
        max_line: int = MAX_LINE,
    ) -> None:
        self.reader = reader
        self.writer = writer
        self.timeout = timeout
        self.max_line = max_line

    @property
    def tls(self) -> bool:
        """Tell whether the connection is encrypted (implicit TLS or after STARTTLS)."""
        return self.writer.get_extra_info("ssl_object") is not None

    @property
    def peer(self) -> str:
        """Return the client's address as text, for logs."""
        peer = self.writer.get_extra_info("peername")
        return f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else str(peer)

    async def read_line(self, timeout: float | None = None) -> bytes:
        """Return the next line without its line ending (CRLF or a bare LF).

        Raises :class:`LineTooLongError` for a line over the cap (after reading
        past it) and :class:`ClosedError` at end of file or after the timeout.
        """
        try:
            line = await asyncio.wait_for(self._line(), timeout or self.timeout)
        except asyncio.TimeoutError:
            raise ClosedError("idle timeout") from None
        except (ConnectionError, ssl.SSLError, asyncio.IncompleteReadError):
            raise ClosedError("connection lost") from None
        return line

    async def _line(self) -> bytes:
        """Read one line, enforcing the cap without buffering an overlong line."""
        try:
            line = await self.reader.readuntil(b"\n")
        except asyncio.LimitOverrunError as overrun:
            await self._discard_line(overrun.consumed)
            raise LineTooLongError from None
        except asyncio.IncompleteReadError as partial:
            if partial.partial:
                return partial.partial.rstrip(b"\r")
            raise
        if len(line) > self.max_line + 2:
            raise LineTooLongError
        return line.rstrip(b"\n").removesuffix(b"\r")

    async def _discard_line(self, consumed: int) -> None:
        """Throw away an overlong line up to and including its LF."""
        await self.reader.readexactly(consumed)
        while True:
            try:
                await self.reader.readuntil(b"\n")
                return
            except asyncio.LimitOverrunError as overrun:
                await self.reader.readexactly(overrun.consumed)

    async def read_exact(self, size: int) -> bytes:
        """Read exactly ``size`` bytes (an IMAP literal), within the idle timeout."""
        try:
            return await asyncio.wait_for(self.reader.readexactly(size), self.timeout)
        except asyncio.TimeoutError:
            raise ClosedError("idle timeout") from None
        except (ConnectionError, ssl.SSLError, asyncio.IncompleteReadError):
            raise ClosedError("connection lost") from None

    def write(self, data: bytes | memoryview) -> None:
        """Queue bytes to send."""
        if not self.writer.is_closing():
            self.writer.write(data)

    async def drain(self) -> None:
        """Wait until the queued bytes are sent (or the client is gone)."""
        try:
            await asyncio.wait_for(self.writer.drain(), self.timeout)
        except (asyncio.TimeoutError, ConnectionError, ssl.SSLError) as error:
            raise ClosedError("cannot write") from error

    async def send(self, data: bytes) -> None:
        """Write bytes and wait until they are sent."""
        self.write(data)
        await self.drain()

    @property
    def buffered(self) -> int:
        """Return how many received bytes wait unread (pipelined past a command)."""
        return len(getattr(self.reader, "_buffer", b""))

    async def start_tls(self, context: ssl.SSLContext, go_ahead: bytes) -> None:
        """Send the protocol's go-ahead reply, then upgrade to TLS.

        Reading is paused before the reply goes out: the client's TLS hello
        must reach the TLS layer, not the plain stream's buffer (which any
        ``await`` between the reply and the upgrade would let happen).
        """
        self.writer.transport.pause_reading()  # type: ignore[attr-defined]
        self.write(go_ahead)
        try:
            await asyncio.wait_for(_start_tls(self.writer, context), self.timeout)
        except (asyncio.TimeoutError, ConnectionError, ssl.SSLError, OSError) as error:
            raise ClosedError("TLS handshake failed") from error

    async def close(self) -> None:
        """Close the connection, not waiting long for a stuck peer."""
        if not self.writer.is_closing():
            self.writer.close()
        with contextlib.suppress(asyncio.TimeoutError, ConnectionError, ssl.SSLError, OSError):
            await asyncio.wait_for(self.writer.wait_closed(), 2)


async def _start_tls(writer: asyncio.StreamWriter, context: ssl.SSLContext) -> None:
    """Upgrade a server-side stream to TLS in place.

    ``StreamWriter.start_tls`` is Python 3.11+; on 3.10 this does what it
    does: hand the transport to ``loop.start_tls`` and point the stream's
    protocol and writer at the new one.
    """
    upgrade = getattr(writer, "start_tls", None)
    if upgrade is not None:
        await upgrade(context)
        return
    loop = asyncio.get_running_loop()
    protocol = writer.transport.get_protocol()
    transport = await loop.start_tls(writer.transport, protocol, context, server_side=True)
    writer._transport = transport  # type: ignore[attr-defined]
    protocol._transport = transport  # type: ignore[attr-defined]
    protocol._over_ssl = True  # type: ignore[attr-defined]
