"""Relay jobs in the SQLite store: one table beside ``messages``, created when a file is opened.

Kept apart from the message schema on purpose: the table is created with
``CREATE TABLE IF NOT EXISTS`` by :func:`ensure_relay_table` (so a file
written before relay existed gains it, and ``PRAGMA user_version`` is left to
the message schema), and ``clear()``, which drops and recreates ``messages``,
leaves it alone; the relayer forgets the jobs of deleted messages itself.
Jobs are kept as the JSON of :func:`~mailsink.store.relays.encode_job`.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable

from mailsink.store.relays import RelayJob, decode_job, encode_job

RELAY_SCHEMA = """
CREATE TABLE IF NOT EXISTS relay_jobs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    message_id TEXT NOT NULL,
    pending INTEGER NOT NULL,
    job TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS relay_jobs_message ON relay_jobs (message_id);
CREATE INDEX IF NOT EXISTS relay_jobs_pending ON relay_jobs (pending) WHERE pending = 1;
"""


def ensure_relay_table(db: sqlite3.Connection) -> None:
    """Create the relay table and its indexes if the file lacks them."""
    for statement in RELAY_SCHEMA.split(";"):
        if statement.strip():
            db.execute(statement)


def put_relay(db: sqlite3.Connection, job: RelayJob) -> None:
    """Insert or replace a job (the writer connection, under the store's write lock)."""
    db.execute(
        "INSERT INTO relay_jobs (id, message_id, pending, job) VALUES (?, ?, ?, ?) "
        "ON CONFLICT (id) DO UPDATE SET pending = excluded.pending, job = excluded.job",
        (job.id, job.message_id, int(job.pending), encode_job(job)),
    )


def relays(db: sqlite3.Connection, message_id: str) -> list[RelayJob]:
    """Return one message's jobs, oldest first."""
    rows = db.execute("SELECT job FROM relay_jobs WHERE message_id = ? ORDER BY seq", (message_id,))
    return [decode_job(text) for (text,) in rows]


def pending_relays(db: sqlite3.Connection) -> list[RelayJob]:
    """Return every pending job, oldest first."""
    rows = db.execute("SELECT job FROM relay_jobs WHERE pending = 1 ORDER BY seq")
    return [decode_job(text) for (text,) in rows]


def forget_relays(db: sqlite3.Connection, message_ids: Iterable[str] | None) -> None:
    """Delete the jobs of these messages (None: every job)."""
    if message_ids is None:
        db.execute("DELETE FROM relay_jobs")
        return
    db.executemany("DELETE FROM relay_jobs WHERE message_id = ?", ((i,) for i in message_ids))
