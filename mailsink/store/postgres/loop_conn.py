"""One connection per event loop: the SMTP loop stores its batches itself, with no thread.

Handing each batch to a writer thread and its result back cost more node
CPU than the batch's SQL (the queue, a thread woken for every batch, the
GIL passed between five threads, the loop woken from another thread) and
about 30,000 context switches a second at 1,200 messages a second.  On the
loop, a batch is sent with psycopg's async connection: while its commit is
in flight the loop keeps reading DATA, and what arrives meanwhile is the
next batch (``ingest.GroupCommit``), so batches grow with the load.

One batch at a time uses a loop's connection (one ``GroupCommit`` per
loop), so no pool is needed.  A connection is made when first needed and
dropped when it breaks or when the server spoke on it while it was idle
(a shutdown or the end of the session: the same check as the pool's
``_check_if_spoken``); the next batch connects again, so the loop
reconnects by itself after the database restarts, and a batch that cannot
connect within ``timeout`` fails (the session answers 451).
"""

from __future__ import annotations

import asyncio
import select
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import psycopg
from psycopg import AsyncConnection

AsyncConn = AsyncConnection[tuple[Any, ...]]


class LoopConnections:
    """Lend each event loop its own autocommit connection to the database."""

    def __init__(self, conninfo: str, timeout: float) -> None:
        self.conninfo = conninfo
        self.timeout = timeout
        self._conns: dict[asyncio.AbstractEventLoop, AsyncConn] = {}
        """Held until :meth:`close` (a listener's loop lives as long as its store)."""
        self._lock = threading.Lock()

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[AsyncConn]:
        """Lend the running loop's connection, connecting first if it has none that works."""
        loop = asyncio.get_running_loop()
        with self._lock:
            conn = self._conns.get(loop)
        if conn is not None and (conn.closed or readable(conn.pgconn.socket)):
            self._drop(loop, conn)
            conn = None
        if conn is None:
            conn = await asyncio.wait_for(
                AsyncConnection.connect(
                    self.conninfo, autocommit=True, connect_timeout=max(1, int(self.timeout))
                ),
                self.timeout,
            )
            with self._lock:
                self._conns[loop] = conn
        try:
            yield conn
        except BaseException:
            if conn.broken or conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
                self._drop(loop, conn)
            raise

    def _drop(self, loop: asyncio.AbstractEventLoop, conn: AsyncConn) -> None:
        """Forget a loop's connection and close its socket."""
        with self._lock:
            if self._conns.get(loop) is conn:
                del self._conns[loop]
        conn.pgconn.finish()

    def close(self) -> None:
        """Close every loop's connection (from any thread, once the loops stopped storing).

        libpq's ``finish`` closes the socket synchronously, so this needs no
        loop: the SMTP listener's loop may have stopped already.
        """
        with self._lock:
            conns, self._conns = list(self._conns.values()), {}
        for conn in conns:
            conn.pgconn.finish()


def readable(fd: int) -> bool:
    """Tell whether a socket has something to read now, without waiting."""
    if hasattr(select, "poll"):
        poller = select.poll()
        poller.register(fd, select.POLLIN | select.POLLERR | select.POLLHUP)
        return bool(poller.poll(0))
    ready, _, _ = select.select([fd], [], [], 0)
    return bool(ready)
