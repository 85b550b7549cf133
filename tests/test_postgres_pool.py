"""How the PostgreSQL store lends pooled connections: no round trip unless the server spoke."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest

from helpers import incoming
from mailsink.store.postgres import PostgresStore
from mailsink.store.postgres.store import _check_if_spoken
from pg_server import PostgresServer, start_server


@pytest.fixture
def own_server() -> Iterator[PostgresServer]:
    """A PostgreSQL server of this test's own, to stop and start again."""
    server = start_server()
    yield server
    server.remove()


def test_a_quiet_connection_is_lent_without_a_query(own_server: PostgresServer) -> None:
    with psycopg.connect(own_server.url(), autocommit=True) as conn:
        conn.execute("SELECT 'the last query'")
        _check_if_spoken(conn)
        with psycopg.connect(own_server.url(), autocommit=True) as watcher:
            row = watcher.execute(
                "SELECT query FROM pg_stat_activity WHERE pid = %s", (conn.info.backend_pid,)
            ).fetchone()
        assert row == ("SELECT 'the last query'",)


def test_connections_broken_by_a_restart_are_replaced_before_they_are_lent(
    own_server: PostgresServer,
) -> None:
    store = PostgresStore(own_server.url(), text_index=False).start()
    try:
        store.add([incoming()])
        own_server.stop("fast")
        own_server.start()  # the same port; every pooled connection is now broken
        assert store.count() == 1  # the first call after the restart already succeeds
        store.add([incoming()])
        assert store.count() == 2
    finally:
        store.close()
