"""Start a throwaway PostgreSQL server for a benchmark: the test suite's helper, reused.

The benchmarks load it from ``tests/pg_server.py`` (the one definition of how a
server is made: initdb into a temporary folder, a free loopback port, as the
``postgres`` user when run as root).  Unlike the tests, the benchmarks keep
PostgreSQL's durability settings as shipped (``fsync``, ``synchronous_commit``
on): every 250 waits for a real WAL flush, as it would in production.  The
other settings are a production server's rather than the tests' (``SETTINGS``):
with the shipped 128 MB of shared buffers and 1 GB of WAL between checkpoints,
a fill of a million messages measures checkpoints and evictions, not mailsink.
"""

from __future__ import annotations

import secrets
import sys
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

ROOT = Path(__file__).resolve().parent.parent

SETTINGS = (
    "shared_buffers=2GB",
    "effective_cache_size=8GB",
    "work_mem=32MB",
    "maintenance_work_mem=512MB",
    "max_wal_size=8GB",
    "checkpoint_timeout=15min",
    "checkpoint_completion_target=0.9",
    "random_page_cost=1.1",
    "fsync=on",
    "synchronous_commit=on",
    "full_page_writes=on",
)
"""A dedicated database server's settings for a machine of about 8 GB and an SSD
(the shape of PGTune's advice), durability as shipped."""


def start() -> Any:
    """Start a server; return the ``PostgresServer`` (call ``remove()`` when done)."""
    sys.path.insert(0, str(ROOT / "tests"))
    from pg_server import start_server

    return start_server(SETTINGS)


def new_schema(server: Any) -> str:
    """Create an empty schema on the server; return a URL whose tables live in it."""
    import psycopg

    name = f"bench_{secrets.token_hex(4)}"
    with psycopg.connect(server.url(), autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {name}")
    return str(server.url()) + "?options=" + quote(f"-csearch_path={name},public")


def drop_schema(server: Any, url: str) -> None:
    """Drop a schema :func:`new_schema` made, then ``CHECKPOINT``: the next run starts settled.

    A long-running server under steady load recycles its WAL files and
    reuses the page cache of what it deleted; a benchmark's server that
    keeps every run's tables and 8 GB of WAL instead zero-fills a new WAL
    file every 16 MB and grows its page cache into memory the virtual
    machine has not touched before, so each run was slower than the last
    (100 KB mail: database CPU 1.7 ms a message in the first two runs on a
    server, 3.5 ms by the sixth).
    """
    import psycopg

    name = unquote(url).rsplit("search_path=", 1)[1].split(",", 1)[0]
    with psycopg.connect(server.url(), autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA {name} CASCADE")
    checkpoint(server)


def checkpoint(server: Any) -> None:
    """Write out what is dirty in shared buffers (``CHECKPOINT``), so its CPU is spent now."""
    import psycopg

    with psycopg.connect(server.url(), autocommit=True) as conn:
        conn.execute("CHECKPOINT")


def settle(url: str, store: Any, timeout: float = 3600) -> float:
    """Wait for the text index to catch up, then ``VACUUM ANALYZE``; return the seconds waited.

    Autovacuum would do the same soon after a fill; the requests measured
    next then see the planner statistics and visibility map of a settled table.
    """
    import time

    import psycopg

    began = time.perf_counter()
    if not store.wait_indexed(timeout=timeout):
        raise SystemExit(f"the text index did not catch up in {timeout:.0f} s")
    caught_up = time.perf_counter() - began
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
    return caught_up
