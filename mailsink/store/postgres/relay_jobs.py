"""Relay jobs in PostgreSQL: the ``mailsink_relay_jobs`` table behind the store's relay calls.

Jobs are kept as the JSON of :func:`mailsink.store.relays.encode_job`,
beside the message ID, the job ID and the pending flag they are looked up
by.  Every function takes a connection of the store's pool (autocommit).

Leases (schema version 2): several nodes share the jobs, and each job must
be attempted by one of them at a time, not once per node.  A node leases a
job (``owner``, ``lease_until``) before it attempts it: :func:`claim` for a
job it makes and attempts at once (a release), :func:`take` for due jobs no
live lease holds, locked ``FOR UPDATE SKIP LOCKED`` so that two nodes
asking at once take different jobs.  :func:`put` of the attempt's outcome
ends the lease; a node that dies mid-attempt leaves a lease that runs out,
and the next node to ask takes the job over.  Lease times are the
database's clock, so the nodes' clocks need not agree.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import psycopg

from mailsink.store.relays import RelayJob, decode_job, encode_job

Conn = psycopg.Connection[tuple[Any, ...]]


_NOW = "extract(epoch from clock_timestamp())"


def put(conn: Conn, job: RelayJob, node: str) -> None:
    """Keep a relay job unleased, replacing the one with its ID unless another node leases it.

    A node whose lease ran out while it attempted (and whose job another
    node took) does not overwrite what the new owner writes.
    """
    conn.execute(
        "INSERT INTO mailsink_relay_jobs (id, message_id, pending, job, due) "
        "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (id) DO UPDATE "
        "SET pending = excluded.pending, job = excluded.job, due = excluded.due, "
        "owner = NULL, lease_until = 0 "
        "WHERE mailsink_relay_jobs.owner IS NULL OR mailsink_relay_jobs.owner = %s "
        f"OR mailsink_relay_jobs.lease_until < {_NOW}",
        (job.id, job.message_id, job.pending, encode_job(job), job.next_at, node),
    )


def claim(conn: Conn, job: RelayJob, node: str, seconds: float) -> None:
    """Keep a new relay job as leased by ``node`` for ``seconds``."""
    conn.execute(
        "INSERT INTO mailsink_relay_jobs (id, message_id, pending, job, due, owner, lease_until) "
        f"VALUES (%s, %s, %s, %s, %s, %s, {_NOW} + %s)",
        (job.id, job.message_id, job.pending, encode_job(job), job.next_at, node, seconds),
    )


def take(conn: Conn, node: str, now: float, seconds: float, limit: int) -> list[RelayJob]:
    """Lease to ``node`` up to ``limit`` pending jobs due by ``now`` that no live lease holds."""
    rows = conn.execute(
        f"UPDATE mailsink_relay_jobs SET owner = %s, lease_until = {_NOW} + %s "
        "WHERE seq IN (SELECT seq FROM mailsink_relay_jobs WHERE pending AND due <= %s "
        f"AND (owner IS NULL OR lease_until < {_NOW}) ORDER BY due, seq LIMIT %s "
        "FOR UPDATE SKIP LOCKED) RETURNING seq, job",
        (node, seconds, now, limit),
    ).fetchall()
    return [decode_job(str(text)) for _seq, text in sorted(rows)]


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
