"""Connection caps for the listeners, a log that cannot flood, and the open-file limit.

Why: every idle socket costs a file descriptor.  With ``ulimit -n 256``
(macOS's default) 299 idle SMTP connections used them all: accept() failed
with EMFILE, asyncio logged a traceback per attempt (0.9 MB/s), and SMTP and
HTTP both became unreachable.  So:

* :class:`ConnectionLimits` counts a listener's open connections, in total
  and per peer address; past a cap the SMTP listener answers ``421`` and
  closes, the web server answers ``429`` and closes.  The caps are kept
  below the open-file limit (:func:`effective_cap`), so accept() keeps
  working and the refusals are answers, not errors.
* :class:`RateLimitedLog` logs a repeated warning once per interval with the
  count of the ones it held back; :func:`quiet_accept_errors` does the same
  for asyncio's accept() error, should the limit be reached anyway.
* :func:`raise_open_file_limit` lifts the soft limit to the hard one where
  the OS allows (the CLI calls it once at start).
"""

from __future__ import annotations

import contextlib
import logging
import time
from typing import Any

try:
    import resource
except ImportError:  # pragma: no cover - Windows
    resource = None  # type: ignore[assignment]

RESERVED_FILES = 64
"""Descriptors kept for the store, logs and the other listener when capping connections."""


def raise_open_file_limit() -> int:
    """Raise the soft RLIMIT_NOFILE to the hard limit where allowed; return the soft limit."""
    if resource is None:
        return 0
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        hard = 1 << 20
    if soft != resource.RLIM_INFINITY and soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError):
            pass
    return int(soft if soft != resource.RLIM_INFINITY else 1 << 20)


def effective_cap(configured: int) -> int:
    """Return a connection cap that leaves room under the open-file limit (SMTP and HTTP)."""
    if resource is None:
        return configured
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return configured
    return max(1, min(configured, (int(soft) - RESERVED_FILES) // 2))


class RateLimitedLog:
    """Log a repeated warning at most once per ``interval`` seconds, counting the rest."""

    def __init__(self, logger: logging.Logger, interval: float = 10.0) -> None:
        self.logger = logger
        self.interval = interval
        self._next = 0.0
        self._held = 0

    def warning(self, message: str, *args: object) -> None:
        """Log now if the interval has passed, else count it for the next line."""
        self.log(logging.WARNING, message, *args)

    def log(self, level: int, message: str, *args: object, exc_info: bool = False) -> None:
        """Log at ``level`` now if the interval has passed, else count it for the next line."""
        now = time.monotonic()
        if now < self._next:
            self._held += 1
            return
        held, self._held = self._held, 0
        suffix = f" ({held} more like it not logged)" if held else ""
        self.logger.log(level, message + suffix, *args, exc_info=exc_info)
        self._next = now + self.interval


class ConnectionLimits:
    """Count a listener's open connections, in total and per peer host; refuse past the caps.

    Used from one thread (the listener's event loop, or waitress's), so no lock.
    """

    def __init__(self, total: int, per_peer: int, log: RateLimitedLog) -> None:
        self.total = effective_cap(total)
        self.per_peer = max(1, min(per_peer, self.total))
        self.log = log
        self.open = 0
        self._peers: dict[str, int] = {}

    def admit(self, peer: str) -> str | None:
        """Count a new connection and return None, or return why it is refused (not counted)."""
        if self.open >= self.total:
            reason = f"too many connections ({self.total} open)"
        elif self._peers.get(peer, 0) >= self.per_peer:
            reason = f"too many connections from {peer} ({self.per_peer} open)"
        else:
            self.open += 1
            self._peers[peer] = self._peers.get(peer, 0) + 1
            return None
        self.log.warning("refused a connection: %s", reason)
        return reason

    def release(self, peer: str) -> None:
        """Forget a connection that :meth:`admit` counted."""
        self.open -= 1
        left = self._peers.get(peer, 0) - 1
        if left > 0:
            self._peers[peer] = left
        else:
            self._peers.pop(peer, None)


class _AcceptErrorFilter(logging.Filter):
    """Let asyncio's accept() error (with its traceback) through once per interval."""

    def __init__(self, interval: float = 10.0) -> None:
        super().__init__()
        self.interval = interval
        self._next = 0.0

    def filter(self, record: logging.LogRecord) -> bool:
        if "socket.accept() out of system resource" not in str(record.msg):
            return True
        now = time.monotonic()
        if now < self._next:
            return False
        self._next = now + self.interval
        return True


_ACCEPT_FILTER = _AcceptErrorFilter()


def quiet_accept_errors() -> None:
    """Rate-limit asyncio's accept() error log (idempotent)."""
    logger = logging.getLogger("asyncio")
    if _ACCEPT_FILTER not in logger.filters:
        logger.addFilter(_ACCEPT_FILTER)


_REFUSED_BODY = b'{"Error":"too many connections, try again later"}'
HTTP_REFUSED = (
    b"HTTP/1.1 429 Too Many Requests\r\nContent-Type: application/json\r\nConnection: close\r\n"
    + b"Content-Length: %d\r\n\r\n" % len(_REFUSED_BODY)
    + _REFUSED_BODY
)


def limit_waitress(server: object, limits: ConnectionLimits) -> None:
    """Make a waitress server count its connections per peer, answering 429 past the caps.

    waitress caps the total itself (``connection_limit``: it stops accepting,
    so the rest wait in the backlog); this adds the per-peer cap, so one
    client's idle connections cannot take every place.
    """
    from waitress.channel import HTTPChannel

    class PeerLimitedChannel(HTTPChannel):  # type: ignore[misc]
        """A channel that takes a per-peer place, or answers 429 and closes."""

        counted: str | None = None

        def __init__(self, server: Any, sock: Any, addr: Any, adj: Any, map: Any = None) -> None:
            peer = str(addr[0]) if isinstance(addr, tuple) and addr else str(addr)
            if limits.admit(peer) is not None:
                with contextlib.suppress(OSError):
                    sock.send(HTTP_REFUSED)
                sock.close()
                return  # never registered with waitress's loop
            self.counted = peer
            super().__init__(server, sock, addr, adj, map)

        def del_channel(self, map: Any = None) -> None:
            if self.counted is not None:
                limits.release(self.counted)
                self.counted = None
            super().del_channel(map)

    if hasattr(server, "channel_class"):
        server.channel_class = PeerLimitedChannel
