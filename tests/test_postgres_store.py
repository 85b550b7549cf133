"""What the PostgreSQL store does beyond the shared contract: schema, nodes, feed, faults."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import poplib
import socket
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import psycopg
import pytest

from helpers import incoming, make_raw
from mailsink import message
from mailsink.config import is_postgres_store
from mailsink.events import Changed, Subscription, Truncated
from mailsink.mailbox import Mailbox
from mailsink.message import new_id, observe_id
from mailsink.search import parse_query
from mailsink.store import open_store
from mailsink.store.base import Incoming, StoredMessage
from mailsink.store.postgres import PostgresStore, describe
from mailsink.store.postgres.batch import COLUMNS
from mailsink.store.postgres.schema import SCHEMA_VERSION, TEXT_HEAD
from mailsink.store.postgres.store import _row
from reader_helpers import RawSession, send

URL = Callable[[], str]


@pytest.fixture
def url(postgres_url: URL) -> str:
    return postgres_url()


@pytest.fixture
def two_nodes(url: str) -> Iterator[tuple[Mailbox, Mailbox]]:
    """Two mailboxes over two stores on one schema, as two nodes would have."""
    stores = [PostgresStore(url).start(), PostgresStore(url).start()]
    yield Mailbox(stores[0]), Mailbox(stores[1])
    for store in stores:
        store.close()


def _kinds(sub: Subscription, count: int) -> list[tuple[str, object]]:
    """Return the next ``count`` events of a subscription as (kind, data)."""
    got: list[tuple[str, object]] = []
    for _ in range(count):
        event = sub.get(timeout=5)
        assert event is not None, f"only {got} arrived"
        got.append((event.kind, event.data))
    return got


def test_changes_on_one_node_are_published_once_on_the_other(
    two_nodes: tuple[Mailbox, Mailbox],
) -> None:
    a, b = two_nodes
    seen_a, seen_b = a.events.subscribe(), b.events.subscribe()
    item = incoming(subject="from a", body="findable words")
    a.add([item])
    ((kind, data),) = _kinds(seen_b, 1)
    assert isinstance(data, StoredMessage) and kind == "new"
    assert (data.id, data.summary.subject) == (item.id, "from a")
    assert b.store.matcher(parse_query("findable"))(data)  # waits on b match a's mail
    b.set_read([item.id], True)
    b.delete([item.id])
    b.clear()
    events = _kinds(seen_a, 4)
    assert events[0][0] == "new"  # a's own, from a's mailbox
    assert events[1:] == [
        ("update", Changed((item.id,), read=True)),
        ("delete", Changed((item.id,))),
        ("truncate", Truncated(0)),
    ]
    # Nothing twice: b heard of its own changes once, from its own mailbox.
    assert [kind for kind, _data in _kinds(seen_b, 3)] == ["update", "delete", "truncate"]
    assert seen_a.get(timeout=0.3) is None and seen_b.get(timeout=0.3) is None


def test_a_node_moves_its_ids_past_those_it_hears_of(monkeypatch: pytest.MonkeyPatch) -> None:
    # The ID clock is per process: put it back after, or every later test in this
    # worker gets IDs of the far future (all digits: "0200...0001").
    monkeypatch.setattr(message, "_last_id_value", message._last_id_value)
    ahead = new_id()[:2] + "Z" * 20  # far in the future
    observe_id(ahead)
    assert new_id() > ahead


def test_one_node_prunes_at_a_time_and_the_total_holds(url: str) -> None:
    a, b = PostgresStore(url, max_messages=5).start(), PostgresStore(url, max_messages=5).start()
    try:
        for _ in range(6):
            a.add([incoming()])
            b.add([incoming()])
        assert a.count() == b.count() == 5
        assert len(a.ids()) == 5
    finally:
        a.close()
        b.close()


def test_a_batch_that_fails_stores_none_of_its_messages(url: str) -> None:
    """A batch is one round trip and one implicit transaction: all of it or none."""
    store = PostgresStore(url).start()
    try:
        good = incoming(body="findable words")
        twin = dataclasses.replace(incoming(), id=good.id)  # its insert fails
        with pytest.raises(psycopg.errors.UniqueViolation):
            store.add([good, twin])
        assert (store.count(), store.unread(), store.get(good.id)) == (0, 0, None)
        assert store.list(query=parse_query("findable")).matched == 0
        store.add([good])
        assert store.ids() == [good.id]
        assert store.list(query=parse_query("findable")).matched == 1
    finally:
        store.close()


def test_a_newer_schema_is_refused_with_a_clear_message(url: str) -> None:
    PostgresStore(url).start().close()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("UPDATE mailsink_schema SET version = %s", (SCHEMA_VERSION + 1,))
    with pytest.raises(RuntimeError, match="newer than this mailsink knows"):
        PostgresStore(url).start()


def test_an_unreachable_database_is_a_clear_error_without_the_password() -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"postgresql://user:s3cret@127.0.0.1:{port}/mail"
    with pytest.raises(RuntimeError) as raised:
        PostgresStore(url, timeout=1).start()
    assert "cannot connect to PostgreSQL at postgresql://user@127.0.0.1" in str(raised.value)
    assert "s3cret" not in str(raised.value)
    assert "s3cret" not in describe(url)


def test_store_urls_are_recognised(url: str) -> None:
    assert is_postgres_store("postgresql://h/db") and is_postgres_store("Postgres://h/db")
    assert not is_postgres_store("mail.db")
    store = open_store(url)
    try:
        assert isinstance(store, PostgresStore) and store.count() == 0
        store.add([incoming()])
        assert store.disk_usage() > 0
    finally:
        store.close()


def test_imap_and_pop3_on_one_node_serve_mail_sent_to_another(
    make_sink: Any, postgres_url: URL
) -> None:
    url = postgres_url()
    a = make_sink(store=url)
    b = make_sink(store=url, pop3_port=0, imap_port=0)
    send(a, make_raw(subject="to node a"))
    host, port = b.reader_address("pop3")
    pop = poplib.POP3(host, port, timeout=10)
    pop.user("any")
    pop.pass_("any")
    assert pop.stat()[0] == 1
    pop.quit()
    client = RawSession(b.reader_address("imap"))
    client.line()
    client.send(b"a LOGIN any any\r\nb SELECT INBOX\r\n")
    assert any(line.startswith(b"* 1 EXISTS") for line in client.until(b"b OK"))
    client.send(b"c IDLE\r\n")
    assert client.line().startswith(b"+ ")
    send(a, make_raw(subject="while b idles"))
    deadline = time.monotonic() + 5
    while not client.line().endswith(b"2 EXISTS\r\n"):
        assert time.monotonic() < deadline
    client.send(b"DONE\r\n")
    client.until(b"c OK")
    client.close()


def test_each_message_gets_one_webhook_post_from_the_node_that_received_it(
    make_sink: Any, postgres_url: URL
) -> None:
    posts: list[str] = []

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            posts.append(json.loads(body)["ID"])
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    receiver = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    hook = f"http://127.0.0.1:{receiver.server_port}/hook"
    try:
        url = postgres_url()
        a, b = make_sink(store=url, webhook_url=hook), make_sink(store=url, webhook_url=hook)
        stream = b.mailbox.events.subscribe()  # b reads a's mail too: it fetches it
        for number in range(3):
            send(a, make_raw(subject=f"hook {number}"))
        heard = [stream.get(timeout=5) for _ in range(3)]
        assert all(e is not None and e.kind == "new" and e.remote for e in heard)
        deadline = time.monotonic() + 5
        while len(posts) < 3 and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.5)  # room for a second POST of any of them
        assert sorted(posts) == sorted(e.message.id for e in heard if e is not None)
    finally:
        receiver.shutdown()
        receiver.server_close()


def test_other_nodes_events_are_marked_remote(two_nodes: tuple[Mailbox, Mailbox]) -> None:
    a, b = two_nodes
    seen_a, seen_b = a.events.subscribe(), b.events.subscribe()
    a.add([incoming()])
    here, there = seen_a.get(timeout=5), seen_b.get(timeout=5)
    assert here is not None and there is not None
    assert (here.kind, here.remote) == ("new", False)  # side effects (auto-relay) run here
    assert (there.kind, there.remote) == ("new", True)  # and not again on node b


def test_a_node_fetches_another_nodes_mail_only_for_someone_who_reads_it(
    two_nodes: tuple[Mailbox, Mailbox], monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = two_nodes
    fetched: list[tuple[str, ...]] = []
    fetch = b.store._fetch  # type: ignore[attr-defined]

    def counted(ids: tuple[str, ...]) -> list[StoredMessage]:
        fetched.append(ids)
        return fetch(ids)  # type: ignore[no-any-return]

    monkeypatch.setattr(b.store, "_fetch", counted)
    # A log or auto-relay (its node's own mail only), and a browser hub nobody has open.
    own_only = b.events.subscribe(kinds=("new", "delete"), remote_kinds=("delete",))
    b.events.subscribe(active=lambda: False)
    first = incoming()
    a.add([first])
    a.delete([first.id])
    event = own_only.get(timeout=5)
    assert event is not None and (event.kind, event.changed.ids) == ("delete", (first.id,))
    assert fetched == []  # a's new mail was not read from the database for nobody
    reader = b.events.subscribe()  # an event stream, say
    second = incoming()
    a.add([second])
    event = reader.get(timeout=5)
    assert event is not None and (event.kind, event.message.id) == ("new", second.id)
    assert fetched == [(second.id,)]


def test_deletes_while_the_indexer_moves_texts_do_not_deadlock(url: str) -> None:
    store = PostgresStore(url).start()
    errors: list[BaseException] = []

    def delete(part: list[str]) -> None:
        try:
            for start in range(0, len(part), 20):
                store.delete(part[start : start + 20])
        except BaseException as error:
            errors.append(error)

    try:
        for _round in range(3):
            items = [incoming(body=f"word{i} " * 50) for i in range(600)]
            store.add(items)  # the indexer moves these texts half a second later

            ids = [item.id for item in items]
            threads = [threading.Thread(target=delete, args=(ids[k::2],)) for k in range(2)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            assert errors == []
            assert store.count() == 0
        assert store.wait_indexed(timeout=30)
    finally:
        store.close()


def _hostile_batch() -> list[Incoming]:
    """Messages whose values test the one-statement batch: quotes, braces, NUL, long texts."""
    tricky = 'a "quoted" {brace}, back\\slash NULL \u00e9\u4e2d\U0001f600 \x01\u2028'
    return [
        incoming(
            make_raw(
                subject=tricky,
                to=f'"{tricky}" <bob@example.test>, carol@example.test',
                extra_headers=f"X-Tags: {tricky}, NULL, {{}}, two words\r\nCc: \r\n",
                body="short",
            )
        ),
        incoming(make_raw(body="long " + "findme " * 1200)),  # past the text head
        incoming(make_raw(subject="bare\x00nul", body="z" * 100)),
        incoming(raw=b"not a message at all\r\n"),
        incoming(raw=b"Subject: caf\xe9 \xff\xfe\r\nTo: b\xe9@example.test\r\n\r\n\xe9t\xe9\r\n"),
    ]


def _stored_columns(url: str, ids: list[str]) -> dict[str, tuple[Any, ...]]:
    """Return each message's row as the batch statement sets it, and its texts."""
    columns = ", ".join(f"m.{name}" for name, _kind in COLUMNS)
    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute(
            f"SELECT {columns}, coalesce(t.search, x.search), coalesce(t.long, false), "
            "l.search FROM mailsink_messages m "
            "LEFT JOIN mailsink_text_new t ON t.id = m.id "
            "LEFT JOIN mailsink_text x ON x.id = m.id "
            "LEFT JOIN mailsink_long_text l ON l.id = m.id WHERE m.id = ANY(%s)",
            (ids,),
        ).fetchall()
    return {str(row[0]): tuple(row) for row in rows}


@pytest.mark.parametrize("path", ["thread", "loop"])
def test_a_batch_stores_every_value_exactly_as_one_row_at_a_time_would(url: str, path: str) -> None:
    """The batch statement's JSON and arrays give back each value ``_row`` made, unchanged."""
    batch = _hostile_batch()
    store = PostgresStore(url, text_index=False).start()
    try:
        if path == "thread":
            store.add(batch)
        else:
            asyncio.run(store.add_async(batch))
        stored = _stored_columns(url, [item.id for item in batch])
        for item in batch:
            values, (_id, text) = _row(item)
            long = len(text) > TEXT_HEAD
            expected = (*values, text[:TEXT_HEAD], long, text if long else None)
            assert stored[item.id] == expected
            got = store.get(item.id)
            assert got is not None and store.raw(item.id) == item.raw
            assert got.summary.tags == item.summary.tags
        assert stored[batch[1].id][-1] is not None  # the long text, whole
        assert stored[batch[2].id][-1] is None  # a short text is only in the head
        assert (store.count(), store.unread()) == (5, 5)
        assert store.list(query=parse_query("findme")).matched == 1
        assert store.list(query=parse_query('tag:"two words"')).matched == 1
    finally:
        store.close()
