"""WAL checkpoints of the SQLite store's databases, from one background thread.

Why a thread: a checkpoint copies the WAL into the database file and
fsyncs, which is slow, and SQLite's default is that whichever connection
commits past 1,000 pages does it, on the path to a 250 reply.  The store
turns that off for the message database (``wal_autocheckpoint = 0``) and
this thread checkpoints instead, ``PASSIVE`` half a second after writes (it
never waits for anyone, so readers and writers carry on).  The index
database keeps SQLite's automatic checkpoints, run by the index thread, off
that path anyway; this thread only truncates its WAL (next paragraph).

Why ``TRUNCATE`` once idle: a ``PASSIVE`` checkpoint copies the WAL but
never shrinks the ``-wal`` file, and a large transaction ("mark all read" on
10,000 messages) leaves it at its high-water mark: 95 MB beside a 14 MB
database, until shutdown.  Once nothing has been written for :data:`IDLE`
seconds, a ``TRUNCATE`` checkpoint empties the file.  Its connections have no
busy timeout: if a writer, or a reader of an older snapshot, is in the way,
it does not wait (holding SQLite's write lock while it waited would hold up
the next add, and so a 250) but tries again after the next idle spell.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable, Sequence

from mailsink.store.sqlite.worker import Worker

CHECKPOINT_INTERVAL = 0.5
"""Seconds after a write before the PASSIVE checkpoint (writes in between share it)."""

IDLE = 1.0
"""Seconds without writes, after that checkpoint, before the WAL files are truncated."""

Connect = Callable[[], sqlite3.Connection]


class Checkpointer:
    """Checkpoint a database after writes; truncate its WAL, and others', when idle and on stop."""

    def __init__(self, connect: Connect, truncate_too: Sequence[Connect] = ()) -> None:
        """Remember how to connect to the databases; nothing is opened until :meth:`start`.

        ``connect`` opens the database whose automatic checkpoints are off;
        ``truncate_too``, databases that only need their WAL truncated.
        """
        self._connects = [connect, *truncate_too]
        self._conns: list[sqlite3.Connection] = []
        self._worker = Worker("mailsink-checkpoint", self._run)
        self._dirty, self._stopping = self._worker.wake, self._worker.stopping

    def start(self) -> None:
        """Open a connection to each database and start the thread (once)."""
        if self._worker.started:
            return
        self._conns = [connect() for connect in self._connects]
        for conn in self._conns:
            conn.execute("PRAGMA busy_timeout = 0")
        self._worker.start()

    def written(self) -> None:
        """Tell the thread a transaction committed (cheap: it runs on the way to a 250)."""
        self._dirty.set()

    def _run(self) -> None:
        truncate_due = False
        while True:
            woke = self._dirty.wait(IDLE if truncate_due else None)
            if self._stopping.is_set():
                return
            if woke:
                if self._stopping.wait(CHECKPOINT_INTERVAL):
                    return
                self._dirty.clear()
                self._checkpoint("PASSIVE", self._conns[:1])
                truncate_due = True
            else:
                truncate_due = not self._checkpoint("TRUNCATE", self._conns)

    def _checkpoint(self, mode: str, conns: list[sqlite3.Connection]) -> bool:
        """Checkpoint these databases; tell whether each one completed."""
        complete = True
        for conn in conns:
            try:
                busy = conn.execute(f"PRAGMA wal_checkpoint({mode})").fetchone()[0]
            except sqlite3.Error:
                busy = 1
            complete = complete and not busy
        return complete

    def stop(self) -> None:
        """Stop the thread, truncate each WAL (waiting for the writers now) and close."""
        self._worker.stop(timeout=10)
        for conn in self._conns:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("PRAGMA busy_timeout = 10000")
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            conn.close()
        self._conns = []
