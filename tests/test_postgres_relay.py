"""Relay on a PostgreSQL sink of several nodes: jobs are leased, so each goes out once.

Real sinks on one schema of a real server; a real mailsink is the upstream.
"""

from __future__ import annotations

import smtplib
import threading
import time
from collections.abc import Callable
from typing import Any

import psycopg
import pytest

from helpers import incoming
from mailsink.relay.settings import AutoRule, RelaySettings, parse_upstream
from mailsink.server import Sink
from mailsink.store.postgres import PostgresStore
from mailsink.store.postgres.schema import SCHEMA_VERSION
from mailsink.store.relays import RelayJob
from pg_server import undo_to

MakeSink = Callable[..., Sink]
URL = Callable[[], str]


def wait_until(condition: Callable[[], Any], timeout: float = 20.0) -> Any:
    """Return the condition's first truthy value, or fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := condition():
            return value
        time.sleep(0.05)
    raise AssertionError("timed out waiting")


def relay_to(upstream: Sink, **overrides: Any) -> RelaySettings:
    host, port = upstream.smtp_address
    options: dict[str, Any] = {"retry_base": 0.05, "retry_max": 0.2, "timeout": 2.0}
    options.update(overrides)
    return RelaySettings(parse_upstream(f"smtp://{host}:{port}"), **options)


def received(upstream: Sink, subject: str) -> int:
    """Return how many copies of the message with this subject the upstream holds."""
    store = upstream.store
    return sum(
        1
        for message_id in store.ids()
        if (m := store.get(message_id)) is not None and m.summary.subject == subject
    )


def send(sink: Sink, subject: str, to: str = "dev@mycompany.test") -> None:
    raw = f"From: app@example.test\r\nTo: {to}\r\nSubject: {subject}\r\n\r\nhi\r\n".encode()
    with smtplib.SMTP(*sink.smtp_address, timeout=30) as client:
        client.sendmail("app@example.test", [to], raw)


def job(message_id: str, number: int = 0) -> RelayJob:
    return RelayJob(
        id=f"r{number:04d}{message_id[-6:]}",
        message_id=message_id,
        mail_from="app@example.test",
        rcpt_tos=("qa@real.test",),
        origin="release",
        next_at=time.time(),
    )


@pytest.fixture
def upstream(make_sink: MakeSink) -> Sink:
    return make_sink(hostname="upstream.test")


def test_an_auto_relay_goes_out_once_with_three_nodes(
    make_sink: MakeSink, postgres_url: URL, upstream: Sink
) -> None:
    url = postgres_url()
    relay = relay_to(upstream, auto=(AutoRule("to:@mycompany.test"),))
    a, _b, _c = (make_sink(store=url, relay=relay) for _ in range(3))
    send(a, "auto once")
    wait_until(lambda: received(upstream, "auto once"))
    time.sleep(1.5)  # three polls of every node
    assert received(upstream, "auto once") == 1


def test_a_deferred_release_is_retried_by_one_node_only(
    make_sink: MakeSink, postgres_url: URL, upstream: Sink
) -> None:
    url = postgres_url()
    a, b = (
        make_sink(store=url, relay=relay_to(upstream)),
        make_sink(store=url, relay=relay_to(upstream)),
    )
    send(a, "release me", to="user@example.test")
    message_id = wait_until(lambda: a.store.ids() and a.store.ids()[0])
    upstream.faults.fail_next(1, code=451)
    response = b.app.test_client().post(
        f"/api/v1/message/{message_id}/release", json={"To": ["qa@real.test"]}
    )
    assert response.status_code == 202, response.get_data(as_text=True)
    wait_until(lambda: received(upstream, "release me"))
    time.sleep(1.5)
    assert received(upstream, "release me") == 1
    [stored] = a.store.relays(message_id)
    assert [attempt.result for attempt in stored.attempts] == ["deferred", "sent"]


def test_the_jobs_of_a_node_that_died_mid_attempt_are_taken_over(
    make_sink: MakeSink, postgres_url: URL, upstream: Sink
) -> None:
    url = postgres_url()
    survivor = make_sink(store=url, relay=relay_to(upstream))
    send(survivor, "orphan", to="user@example.test")
    message_id = wait_until(lambda: survivor.store.ids() and survivor.store.ids()[0])
    dead = PostgresStore(url).start()
    claimed = time.monotonic()
    dead.claim_relay(job(message_id), seconds=3.0)  # leased, then the node is gone
    dead.close()
    wait_until(lambda: received(upstream, "orphan"))
    assert time.monotonic() - claimed >= 3.0, "a live lease was left alone"
    # The job is marked sent after the upstream's 250, so a moment after the mail arrived.
    wait_until(lambda: survivor.store.relays(message_id)[0].state == "sent")
    [stored] = survivor.store.relays(message_id)
    assert stored.state == "sent" and len(stored.attempts) == 1


def test_two_nodes_asking_at_once_take_different_jobs(postgres_url: URL) -> None:
    url = postgres_url()
    a, b = PostgresStore(url).start(), PostgresStore(url).start()
    try:
        item = incoming()
        a.add([item])
        for number in range(40):
            a.put_relay(job(item.id, number))
        taken: dict[str, list[str]] = {"a": [], "b": []}
        barrier = threading.Barrier(2)

        def take(name: str, store: PostgresStore) -> None:
            barrier.wait()
            while jobs := store.take_relays(30.0, 3):
                taken[name] += [j.id for j in jobs]

        threads = [threading.Thread(target=take, args=pair) for pair in (("a", a), ("b", b))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert not set(taken["a"]) & set(taken["b"]), "no job leased twice"
        assert len(taken["a"]) + len(taken["b"]) == 40
        assert a.take_relays(30.0, 10) == [], "leased jobs stay leased"
    finally:
        a.close()
        b.close()


def test_version_1_tables_are_upgraded_at_start_and_keep_their_jobs(postgres_url: URL) -> None:
    url = postgres_url()
    store = PostgresStore(url).start()
    item = incoming()
    store.add([item])
    store.put_relay(job(item.id))
    store.close()
    with psycopg.connect(url, autocommit=True) as conn:  # back to what version 1 made
        undo_to(conn, 2)
        conn.execute(
            "DROP INDEX mailsink_relay_jobs_due; ALTER TABLE mailsink_relay_jobs "
            "DROP COLUMN owner, DROP COLUMN lease_until, DROP COLUMN due; "
            "CREATE INDEX mailsink_relay_jobs_pending ON mailsink_relay_jobs (seq) WHERE pending; "
            "UPDATE mailsink_schema SET version = 1"
        )
    store = PostgresStore(url).start()
    try:
        [pending] = store.take_relays(30.0, 10)
        assert pending.id == job(item.id).id
        with psycopg.connect(url, autocommit=True) as conn:
            row = conn.execute("SELECT version FROM mailsink_schema").fetchone()
        assert row == (SCHEMA_VERSION,)
    finally:
        store.close()


def test_a_pending_job_is_sent_once_when_several_nodes_start(
    make_sink: MakeSink, postgres_url: URL, upstream: Sink
) -> None:
    url = postgres_url()
    store = PostgresStore(url).start()
    item = incoming(subject="left pending")
    store.add([item])
    store.put_relay(job(item.id))  # a deferred job of a sink that stopped
    store.close()
    upstream.faults.fail_next(2, code=451)  # a few rounds of retries while all three run
    for _ in range(3):  # every node used to resume (and retry) every pending job it found
        make_sink(store=url, relay=relay_to(upstream))
    wait_until(lambda: received(upstream, "left pending"))
    time.sleep(1.5)
    assert received(upstream, "left pending") == 1
