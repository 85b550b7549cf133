"""Relay jobs in PostgreSQL: the ``mailsink_relay_jobs`` table behind the store's relay calls.

Jobs are kept as the JSON of :func:`mailsink.store.relays.encode_job`,
beside the message ID, the job ID and the pending flag they are looked up
by.  Every function takes a connection of the store's pool (autocommit).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import psycopg

from mailsink.store.relays import RelayJob, decode_job, encode_job

Conn = psycopg.Connection[tuple[Any, ...]]


def put(conn: Conn, job: RelayJob) -> None:
    """Keep a relay job, replacing the one with its ID."""
    conn.execute(
        "INSERT INTO mailsink_relay_jobs (id, message_id, pending, job) "
        "VALUES (%s, %s, %s, %s) ON CONFLICT (id) DO UPDATE "
        "SET pending = excluded.pending, job = excluded.job",
        (job.id, job.message_id, job.pending, encode_job(job)),
    )


def of_message(conn: Conn, message_id: str) -> list[RelayJob]:
    """Return the relay jobs of one message, oldest first."""
    rows = conn.execute(
        "SELECT job FROM mailsink_relay_jobs WHERE message_id = %s ORDER BY seq", (message_id,)
    ).fetchall()
    return [decode_job(str(text)) for (text,) in rows]


def pending(conn: Conn) -> list[RelayJob]:
    """Return every relay job still pending, oldest first."""
    rows = conn.execute("SELECT job FROM mailsink_relay_jobs WHERE pending ORDER BY seq").fetchall()
    return [decode_job(str(text)) for (text,) in rows]


def forget(conn: Conn, message_ids: Iterable[str] | None) -> None:
    """Drop the relay jobs of these messages (None: of every message)."""
    if message_ids is None:
        conn.execute("DELETE FROM mailsink_relay_jobs")
    else:
        conn.execute(
            "DELETE FROM mailsink_relay_jobs WHERE message_id = ANY(%s)", (list(message_ids),)
        )
