"""The message and unread counts: deltas added by each write, summed on read, folded now and then.

A single counter row would be a lock that every node's commits queue on, so
each committed change adds a row of deltas (``mailsink_counts``) and reads
sum them.  Every ``FOLD_EVERY`` writes a node folds the rows into one, if no
other node is folding right now (an advisory transaction lock).
"""

from __future__ import annotations

import logging
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool

from mailsink.store.postgres import leader
from mailsink.store.postgres.schema import COUNTS_LOCK

log = logging.getLogger(__name__)

FOLD_EVERY = 256
"""Fold the count deltas into one row after this many writes by this node."""

Conn = psycopg.Connection[tuple[Any, ...]]
AsyncConn = psycopg.AsyncConnection[tuple[Any, ...]]

_ADD = "INSERT INTO mailsink_counts (total, unread) VALUES (%s, %s)"
_READ = (
    "SELECT coalesce(sum(total), 0)::bigint, coalesce(sum(unread), 0)::bigint FROM mailsink_counts"
)
_FOLD = (
    "WITH gone AS (DELETE FROM mailsink_counts RETURNING total, unread) "
    "INSERT INTO mailsink_counts SELECT coalesce(sum(total), 0), "
    "coalesce(sum(unread), 0) FROM gone"
)


def add_delta(conn: Conn, total: int, unread: int) -> None:
    """Record a change of the counts, in the caller's transaction."""
    if total or unread:
        conn.execute(_ADD, (total, unread))


async def add_delta_async(conn: AsyncConn, total: int, unread: int) -> None:
    """Record a change of the counts, in the caller's transaction (on an event loop)."""
    if total or unread:
        await conn.execute(_ADD, (total, unread))


def read(conn: Conn) -> tuple[int, int]:
    """Return (messages, unread) as of the caller's snapshot."""
    row = conn.execute(_READ).fetchone()
    return (int(row[0]), int(row[1])) if row else (0, 0)


async def read_async(conn: AsyncConn) -> tuple[int, int]:
    """Return (messages, unread) as of the caller's snapshot (on an event loop)."""
    row = await (await conn.execute(_READ)).fetchone()
    return (int(row[0]), int(row[1])) if row else (0, 0)


def fold(pool: ConnectionPool[Any]) -> None:
    """Sum the count deltas into one row (one node at a time; the others skip)."""
    try:
        with pool.connection() as conn, conn.transaction():
            if leader.try_lock(conn, COUNTS_LOCK):
                conn.execute(_FOLD)
    except psycopg.Error:
        log.debug("folding the counts failed; the next write tries again", exc_info=True)


async def fold_async(conn: AsyncConn) -> None:
    """Sum the count deltas into one row, on an event loop's connection (as :func:`fold`)."""
    try:
        async with conn.transaction():
            if await leader.try_lock_async(conn, COUNTS_LOCK):
                await conn.execute(_FOLD)
    except psycopg.Error:
        log.debug("folding the counts failed; the next write tries again", exc_info=True)
