"""Work that one node at a time does: a PostgreSQL advisory lock for each kind of work.

Every node of a sink runs the same sweeps (pruning by count and by age,
folding the counts).  Done by all of them at once, they would delete the
same rows side by side and wait on each other's row locks, for nothing.
Each kind of work has an advisory lock (``schema.py``'s keys, under the
schema's hash, so sinks in other schemas do not share them); a node that
does not get it at once skips the work, which the lock's holder is doing.
The locks are transaction locks: they go with the transaction, so a node
that dies, or loses its connection, holds none.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool

from mailsink.store.postgres.schema import PRUNE_LOCK

Conn = psycopg.Connection[tuple[Any, ...]]
AsyncConn = psycopg.AsyncConnection[tuple[Any, ...]]

_TRY_LOCK = "SELECT pg_try_advisory_xact_lock(hashtext(current_schema()), %s)"

WORK = {"prune": PRUNE_LOCK}
"""The advisory lock key of each kind of work :func:`lead` is asked for."""


def try_lock(conn: Conn, key: int) -> bool:
    """Take an advisory lock until the caller's transaction ends, if no one holds it."""
    row = conn.execute(_TRY_LOCK, (key,)).fetchone()
    return bool(row and row[0])


async def try_lock_async(conn: AsyncConn, key: int) -> bool:
    """Take an advisory lock until the caller's transaction ends (on an event loop)."""
    row = await (await conn.execute(_TRY_LOCK, (key,))).fetchone()
    return bool(row and row[0])


@contextmanager
def lead(pool: ConnectionPool[Any], work: str) -> Iterator[bool]:
    """Hold the lock of ``work`` for the ``with`` block; yield False if another node holds it.

    The lock lives in a transaction of a pooled connection of its own: the
    work itself may run on any other connection.
    """
    with pool.connection() as conn, conn.transaction():
        yield try_lock(conn, WORK[work])
