"""Start a throwaway PostgreSQL server for a benchmark: the test suite's helper, reused.

The benchmarks load it from ``tests/pg_server.py`` (the one definition of how a
server is made: initdb into a temporary folder, a free loopback port, as the
``postgres`` user when run as root).  Unlike the tests, the benchmarks keep
PostgreSQL's durability settings as shipped (``fsync``, ``synchronous_commit``
on): every 250 waits for a real WAL flush, as it would in production.
"""

from __future__ import annotations

import secrets
import sys
from pathlib import Path
from typing import Any
from urllib.parse import quote

ROOT = Path(__file__).resolve().parent.parent


def start() -> Any:
    """Start a server; return the ``PostgresServer`` (call ``remove()`` when done)."""
    sys.path.insert(0, str(ROOT / "tests"))
    from pg_server import start_server

    return start_server()


def new_schema(server: Any) -> str:
    """Create an empty schema on the server; return a URL whose tables live in it."""
    import psycopg

    name = f"bench_{secrets.token_hex(4)}"
    with psycopg.connect(server.url(), autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {name}")
    return str(server.url()) + "?options=" + quote(f"-csearch_path={name},public")
