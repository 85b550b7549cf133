"""The Server-Sent Events stream and the server-side wait, over a real waitress server."""

from __future__ import annotations

import http.client
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from api_helpers import Api, Served, make_api

from mailsink import message
from mailsink.config import Settings
from mailsink.store import MemoryStore
from mailsink.web.state import app_state

pytest_plugins = ["conftest_api"]


class EventReader:
    """Read SSE frames from an open response."""

    def __init__(self, response: http.client.HTTPResponse) -> None:
        self.response = response

    def frame(self) -> dict[str, Any]:
        """Return the next frame as {"comments": [...], "event": str, "data": obj}."""
        frame: dict[str, Any] = {"comments": [], "event": None, "data": None}
        while True:
            line = self.response.readline().decode()
            if not line:
                raise EOFError("stream closed")
            line = line.rstrip("\n")
            if not line:
                return frame
            if line.startswith(":"):
                frame["comments"].append(line[1:].strip())
            elif line.startswith("event: "):
                frame["event"] = line[7:]
            elif line.startswith("data: "):
                frame["data"] = json.loads(line[6:])

    def next_event(self) -> dict[str, Any]:
        """Return the next frame that is an event (skipping keepalives)."""
        while True:
            frame = self.frame()
            if frame["event"]:
                return frame


@contextmanager
def event_stream(served: Served) -> Iterator[EventReader]:
    """Open the event stream of a served app."""
    conn = http.client.HTTPConnection(served.host, served.port, timeout=10)
    conn.request("GET", "/api/v1/events")
    response = conn.getresponse()
    assert response.status == 200
    assert response.getheader("Content-Type", "").startswith("text/event-stream")
    reader = EventReader(response)
    assert "connected" in reader.frame()["comments"]
    try:
        yield reader
    finally:
        conn.close()


def test_stream_announces_new_update_delete_and_truncate_with_counts(served: Served) -> None:
    api = served.api
    with event_stream(served) as events:
        message = api.deliver(subject="live")
        new = events.next_event()
        assert new["event"] == "new"
        assert new["data"]["ID"] == message.id
        assert new["data"]["Subject"] == "live"
        assert new["data"]["Envelope"]["RcptTo"] == ["bob@example.test"]
        assert (new["data"]["Total"], new["data"]["Unread"]) == (1, 1)
        api.client.put("/api/v1/messages", json={"IDs": [message.id], "Read": True})
        update = events.next_event()
        assert update["event"] == "update"
        assert update["data"] == {"IDs": [message.id], "Read": True, "Total": 1, "Unread": 0}
        api.client.put("/api/v1/tags", json={"IDs": [message.id], "Tags": ["x"]})
        assert events.next_event()["data"]["Tags"] == ["x"]
        api.client.delete("/api/v1/messages", json={"IDs": [message.id]})
        delete = events.next_event()
        assert delete["event"] == "delete"
        assert delete["data"] == {"IDs": [message.id], "Total": 0, "Unread": 0}
        api.deliver()
        events.next_event()
        api.client.delete("/api/v1/messages")
        truncate = events.next_event()
        assert truncate["event"] == "truncate"
        assert truncate["data"] == {"Total": 0, "Unread": 0}


def test_stream_sends_keepalive_comments(served: Served) -> None:
    with event_stream(served) as events:
        assert events.frame()["comments"] == ["keepalive"]


def test_stream_closes_when_the_client_goes_away(served: Served) -> None:
    bus = served.api.mailbox.events
    before = bus.subscriber_count
    with event_stream(served):
        assert bus.subscriber_count == before + 1
    deadline = time.monotonic() + 5
    while bus.subscriber_count > before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert bus.subscriber_count == before
    limiter = app_state(served.api.app).long_requests
    assert limiter.open == 0


def test_streams_and_waits_beyond_the_thread_budget_get_a_503() -> None:
    api = make_api(MemoryStore(), Settings(http_threads=5))  # one long request allowed
    try:
        first = api.client.get("/api/v1/events")
        assert first.status_code == 200
        second = api.client.get("/api/v1/events")
        assert second.status_code == 503
        assert api.client.get("/api/v1/wait?timeout=0").status_code == 503
        first.close()
        third = api.client.get("/api/v1/events")
        assert third.status_code == 200
        third.close()
    finally:
        api.close()


def deliver_later(
    api: Api, delay: float = 0.3, subject: str = "Hello", to: str = "bob@example.test"
) -> threading.Thread:
    """Deliver a message from another thread after a delay."""

    def run() -> None:
        time.sleep(delay)
        api.deliver(subject=subject, to=to)

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_wait_returns_at_once_when_a_match_is_already_there(api_any: Api) -> None:
    message = api_any.deliver(to="x@example.test")
    started = time.monotonic()
    data = api_any.get_json("/api/v1/wait?query=to:x@example.test&timeout=5")
    assert time.monotonic() - started < 1
    assert data["messages_count"] == 1
    assert [m["ID"] for m in data["messages"]] == [message.id]


def test_wait_returns_as_soon_as_a_match_arrives(api_any: Api) -> None:
    api_any.deliver(to="other@example.test")
    thread = deliver_later(api_any, to="late@example.test", subject="late")
    started = time.monotonic()
    data = api_any.get_json("/api/v1/wait?query=to:late@example.test&timeout=10")
    elapsed = time.monotonic() - started
    thread.join()
    assert 0.2 < elapsed < 5
    assert [m["Subject"] for m in data["messages"]] == ["late"]


def test_wait_for_a_count_returns_messages_oldest_first(api: Api) -> None:
    first = api.deliver(subject="batch 1")
    thread = deliver_later(api, subject="batch 2")
    data = api.get_json("/api/v1/wait?query=subject:batch&count=2&timeout=10")
    thread.join()
    assert data["messages_count"] == 2
    assert [m["Subject"] for m in data["messages"]] == ["batch 1", "batch 2"]
    assert data["messages"][0]["ID"] == first.id


def test_wait_times_out_with_a_408_saying_what_it_found(api: Api) -> None:
    api.deliver(to="x@example.test")
    response = api.client.get("/api/v1/wait?query=to:x@example.test&count=2&timeout=0.3")
    assert response.status_code == 408
    assert response.get_json() == {
        "Error": "timed out after 0.3s waiting for 2 messages matching 'to:x@example.test': found 1"
    }


def test_wait_since_a_message_id_ignores_older_mail(api_any: Api) -> None:
    api_any.deliver(subject="old match")
    marker = api_any.deliver(subject="marker")
    response = api_any.client.get(f"/api/v1/wait?query=subject:match&since={marker.id}&timeout=0.2")
    assert response.status_code == 408
    thread = deliver_later(api_any, subject="new match", delay=0.1)
    data = api_any.get_json(f"/api/v1/wait?query=subject:match&since={marker.id}&timeout=10")
    thread.join()
    assert [m["Subject"] for m in data["messages"]] == ["new match"]


def test_wait_since_an_id_of_digits_alone_is_that_message_not_a_time(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    # IDs past a clock seen far ahead are digits alone ("0200...0000"), which float() takes.
    monkeypatch.setattr(message, "_last_id_value", 2 << 105)
    marker = api.deliver(subject="marker")
    assert marker.id.isdigit()
    thread = deliver_later(api, subject="after it", delay=0.1)
    data = api.get_json(f"/api/v1/wait?since={marker.id}&timeout=10")
    thread.join()
    assert [m["Subject"] for m in data["messages"]] == ["after it"]


def test_wait_since_a_time_ignores_older_mail(api: Api) -> None:
    api.deliver(subject="old")
    since = time.time() + 0.001
    time.sleep(0.01)
    response = api.client.get(f"/api/v1/wait?since={since}&timeout=0.2")
    assert response.status_code == 408
    new = api.deliver(subject="new")
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(since - 5)) + "Z"
    assert api.get_json(f"/api/v1/wait?since={since}")["messages"][0]["ID"] == new.id
    assert api.get_json(f"/api/v1/wait?since={stamp}&count=2")["messages_count"] == 2


def test_wait_sees_a_message_become_read(api: Api) -> None:
    message = api.deliver()

    def mark() -> None:
        time.sleep(0.2)
        api.mailbox.set_read([message.id], True)

    thread = threading.Thread(target=mark)
    thread.start()
    data = api.get_json("/api/v1/wait?query=is:read&timeout=10")
    thread.join()
    assert data["messages"][0]["ID"] == message.id


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("timeout=301", "timeout must be between 0 and 300"),
        ("timeout=abc", "timeout must be a number"),
        ("timeout=nan", "timeout must be between"),
        ("count=0", "count must be at least 1"),
        ("count=5000", "count must be at most 1000"),
        ("since=yesterday", "since must be a message ID"),
        ("since=inf", "finite"),
        ("query=is:maybe", "bad search"),
    ],
)
def test_bad_wait_request_is_a_400(api: Api, query: str, message: str) -> None:
    response = api.client.get(f"/api/v1/wait?{query}")
    assert response.status_code == 400
    assert message in response.get_json()["Error"]


def test_stopping_the_sink_ends_open_streams_cleanly(caplog: pytest.LogCaptureFixture) -> None:
    import logging
    import socket as socket_module

    from mailsink.config import Settings
    from mailsink.server import Sink

    sink = Sink(Settings(smtp_port=0, http_port=0, tls=False)).start()
    assert sink.http_address is not None
    streams = []
    for _ in range(3):
        conn = socket_module.create_connection(("127.0.0.1", sink.http_address[1]), timeout=5)
        conn.sendall(b"GET /api/v1/events HTTP/1.1\r\nHost: localhost\r\n\r\n")
        assert b"200" in conn.recv(4096)
        streams.append(conn)
    caplog.set_level(logging.ERROR)
    started = time.monotonic()
    sink.stop()
    assert time.monotonic() - started < 2
    time.sleep(0.2)
    for conn in streams:
        conn.close()
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []
