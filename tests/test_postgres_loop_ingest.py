"""The PostgreSQL store's batches from the SMTP event loop: ``add_async`` and ``GroupCommit``.

A real server the suite started; real SMTP sessions on port 0.
"""

from __future__ import annotations

import asyncio
import dataclasses
import smtplib
import threading
import time
from collections.abc import Callable
from typing import Any

import psycopg
import pytest

from helpers import incoming
from mailsink.ingest import INLINE_MAX, inline_limit
from mailsink.search import parse_query
from mailsink.server import Sink
from mailsink.store.postgres import PostgresStore

URL = Callable[[], str]


@pytest.fixture
def url(postgres_url: URL) -> str:
    return postgres_url()


def test_the_store_is_stored_to_from_the_loop_not_a_writer_thread(url: str) -> None:
    store = PostgresStore(url)
    assert inline_limit(store) == INLINE_MAX


def test_a_batch_from_the_loop_that_fails_stores_none_of_its_messages(url: str) -> None:
    store = PostgresStore(url).start()
    try:
        good = incoming(body="findable words")
        twin = dataclasses.replace(incoming(), id=good.id)  # its insert fails

        async def fail_then_add() -> None:
            with pytest.raises(psycopg.errors.UniqueViolation):
                await store.add_async([good, twin])
            assert (store.count(), store.unread(), store.get(good.id)) == (0, 0, None)
            assert store.list(query=parse_query("findable")).matched == 0
            await store.add_async([good])  # the loop's connection is usable after the failure

        asyncio.run(fail_then_add())
        assert store.ids() == [good.id]
        assert store.list(query=parse_query("findable")).matched == 1
    finally:
        store.close()


def test_the_loop_reconnects_when_the_server_ended_its_connection(url: str) -> None:
    store = PostgresStore(url, text_index=False).start()

    async def add_twice() -> None:
        await store.add_async([incoming()])
        with psycopg.connect(url, autocommit=True) as admin:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid != pg_backend_pid() "
                "AND state = 'idle' AND query LIKE '%pg_notify%'"
            )
        time.sleep(0.2)  # the termination reaches the socket
        await store.add_async([incoming()])  # not a failure: a new connection is made

    try:
        asyncio.run(add_twice())
        assert store.count() == 2
    finally:
        store.close()


def test_mail_arriving_while_a_batch_commits_is_the_next_batch(
    make_sink: Callable[..., Any], url: str
) -> None:
    """Each batch is one transaction that adds one row of count deltas: the rows count batches."""
    sink: Sink = make_sink(store=url)
    message = b"Subject: hello\r\nTo: b@example.test\r\n\r\nhello\r\n"
    replies: list[object] = []

    def send() -> None:
        with smtplib.SMTP(*sink.smtp_address, timeout=30) as client:
            replies.append(client.sendmail("a@example.test", ["b@example.test"], message))

    with psycopg.connect(url) as blocker:
        blocker.execute("LOCK TABLE mailsink_counts IN EXCLUSIVE MODE")  # the first commit waits
        senders = [threading.Thread(target=send) for _ in range(8)]
        senders[0].start()
        time.sleep(0.5)  # the first message's batch is in flight, waiting for the lock
        for sender in senders[1:]:
            sender.start()
        time.sleep(1.0)  # the other seven are pending, none acknowledged
        assert replies == []
        blocker.rollback()
    for sender in senders:
        sender.join(30)
    assert replies == [{}] * 8
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT total FROM mailsink_counts ORDER BY total").fetchall()
    assert rows == [(1,), (7,)]
