"""The text indexer: moves new messages' search text under the trigram index, off the 250's path.

``add`` writes each message's search text to ``mailsink_text_new``; this
thread moves it, in batches of ``BATCH``, to ``mailsink_text``, which has
the trigram index (``schema.py`` says why), with its words for the word
index and any new words into ``mailsink_vocab``.  A long text's whole is
not moved: only its head came this way (``mailsink_long_text``, version 7).  A move is one statement
(``DELETE ... RETURNING`` into ``INSERT``), so at every snapshot each text is
in exactly one of the two tables, and searches, which look in both, never
miss a message.  One node moves at a time (an advisory lock); the thread
wakes when this node adds mail or hears that another did, and also every
``IDLE`` seconds, in case a node stopped before moving what it added.  Once
woken it lets texts gather for ``LINGER`` seconds: moving after every
add (a batch of 3 or 4 texts under load) cost the database more than the
texts' own inserts (a move is a transaction with a commit; 0.70 -> 0.55 ms
of database CPU per 1 KB message, ``PostgresStore.add`` in batches of 4).

Every move leaves dead rows in ``mailsink_text_new``, and every search
scans that table (its texts are not under the index): left to autovacuum,
it had held 23 MB of dead rows during a long fill, which each search read.
So the thread vacuums it itself every ``VACUUM_EVERY`` texts moved, and
when no mail came for ``IDLE`` seconds after a move.  It vacuums with
``INDEX_CLEANUP ON``: by default (PostgreSQL 14 and newer) a vacuum that finds
dead rows on fewer than 2% of a table's pages leaves them as dead line
pointers, which keep their pages from being truncated.  After a fill that
outran the indexer (a million messages: the queue reached 114,275 pages,
900 MB) the last moves' dead rows were on 803 pages, so every later vacuum
skipped them, the empty table kept its 900 MB and every search read them
all: 235 ms for a word found nowhere, where 2 ms once it was truncated.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool

from mailsink.store.postgres.schema import INDEX_LOCK, TEXT_HEAD

log = logging.getLogger(__name__)

BATCH = 1000
"""Texts moved per transaction (500 before): fewer, bigger moves commit less per text."""
VACUUM_EVERY = 2000
"""Vacuum ``mailsink_text_new`` after this many texts have been moved out of it."""
IDLE = 5.0
"""Seconds between looks when nothing woke the thread."""
LINGER = 0.5
"""Seconds the thread lets texts gather after it is woken, before it moves them."""
BUSY = 1.0
"""Seconds before trying again when another node holds the lock or the database is away."""


class TextIndexer:
    """Move search texts from ``mailsink_text_new`` to ``mailsink_text`` on a thread."""

    def __init__(self, pool: ConnectionPool[Any]) -> None:
        self._pool = pool
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._unvacuumed = 0
        """Texts moved since ``mailsink_text_new`` was last vacuumed (dead rows in it)."""

    def start(self) -> None:
        """Start the thread; it moves whatever is waiting at once."""
        if self._thread is None:
            self._wake.set()
            self._thread = threading.Thread(target=self._run, name="mailsink-index", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Stop the thread (a batch being moved is finished first)."""
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def notify(self) -> None:
        """Tell the thread that new texts are waiting."""
        self._wake.set()

    def _run(self) -> None:
        while not self._stopping.is_set():
            if not self._wake.wait(IDLE) and self._unvacuumed:
                self._vacuum()  # mail went quiet: free the dead rows the last moves left
            self._stopping.wait(LINGER)
            self._wake.clear()
            while not self._stopping.is_set():
                moved = self.move()
                if moved > 0:
                    self._unvacuumed += moved
                    if self._unvacuumed >= VACUUM_EVERY:
                        self._vacuum()
                if moved < 0:
                    self._stopping.wait(BUSY)
                    break
                if moved < BATCH:
                    break

    def move(self) -> int:
        """Move one batch; return how many texts moved, -1 if another node is moving."""
        try:
            with self._pool.connection() as conn, conn.transaction():
                got = conn.execute(
                    "SELECT pg_try_advisory_xact_lock(hashtext(current_schema()), %s)",
                    (INDEX_LOCK,),
                ).fetchone()
                if not got or not got[0]:
                    return -1
                # The messages' rows are locked first, as a delete locks them before its
                # cascade reaches the texts: the other order deadlocked with deletes.
                # Rows being deleted are skipped (their texts go with them).
                cursor = conn.execute(
                    "WITH picked AS (SELECT m.id FROM mailsink_messages m "
                    "JOIN mailsink_text_new n ON n.id = m.id ORDER BY m.id LIMIT %s "
                    "FOR KEY SHARE OF m SKIP LOCKED), "
                    "moved AS (DELETE FROM mailsink_text_new WHERE id IN (SELECT id FROM picked) "
                    f"RETURNING id, search, long, length(search) > {TEXT_HEAD} AS whole), "
                    # A whole long text here came from a node older than schema 7
                    # (still running during an upgrade): kept whole, as add keeps one.
                    "kept_whole AS (INSERT INTO mailsink_long_text (id, search) "
                    "SELECT id, search FROM moved WHERE whole ON CONFLICT DO NOTHING), "
                    "indexed AS (INSERT INTO mailsink_text (id, search, words, long) "
                    "SELECT id, head, mailsink_words(head), long OR whole "
                    f"FROM moved, LATERAL (SELECT left(search, {TEXT_HEAD}) AS head) h "
                    "RETURNING words), "
                    "vocab AS (INSERT INTO mailsink_vocab "
                    "SELECT DISTINCT unnest(tsvector_to_array(words)) FROM indexed "
                    "ON CONFLICT DO NOTHING) "
                    "SELECT count(*) FROM indexed",
                    (BATCH,),
                )
                row = cursor.fetchone()
                return int(row[0]) if row else 0
        except psycopg.Error as error:  # the database is away, or a message went meanwhile
            if not self._stopping.is_set():
                log.debug("moving texts under the index failed, trying again: %s", error)
            return -1

    def _vacuum(self) -> None:
        """Free the dead rows that moves left in ``mailsink_text_new`` (searches scan them)."""
        try:
            with self._pool.connection() as conn:  # autocommit: VACUUM needs no transaction
                conn.execute("VACUUM (INDEX_CLEANUP ON) mailsink_text_new")
            self._unvacuumed = 0
        except psycopg.Error as error:  # the database is away: the next move tries again
            if not self._stopping.is_set():
                log.debug("vacuuming the new texts failed: %s", error)

    def wait_indexed(self, timeout: float = 60.0) -> bool:
        """Wait until no text waits to be indexed (tests and benchmarks; searches never need it)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._pool.connection() as conn:
                row = conn.execute("SELECT EXISTS (SELECT 1 FROM mailsink_text_new)").fetchone()
            if row is not None and not row[0]:
                return True
            self.notify()
            time.sleep(0.05)
        return False
