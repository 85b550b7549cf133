"""Mailpit's WebSocket feed at ``/api/events``, driven by the ``websockets`` client library."""

from __future__ import annotations

import json
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from api_helpers import raw_message, smtp_send
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect
from websockets.typing import Origin

from mailsink.config import Settings
from mailsink.server import Sink


@pytest.fixture
def sink() -> Iterator[Sink]:
    """Yield a running sink that lets one extra origin in (--cors-origin)."""
    settings = Settings(
        smtp_port=0, http_port=0, tls=False, cors_origins=("http://app.example.test",)
    )
    with Sink(settings) as running:
        yield running


def ws_url(sink: Sink) -> str:
    assert sink.web_url is not None
    return sink.web_url.replace("http://", "ws://") + "/api/events"


def frame(ws: ClientConnection, kind: str | None = None) -> dict[str, Any]:
    """Return the next frame (of ``kind``, skipping others)."""
    while True:
        data: dict[str, Any] = json.loads(ws.recv(timeout=5))
        assert set(data) == {"Type", "Data"}
        if kind is None or data["Type"] == kind:
            return data


def api(sink: Sink, method: str, path: str, body: object = None) -> bytes:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        f"{sink.web_url}{path}", data=data, method=method,
        headers={"Content-Type": "application/json"},
    )  # fmt: skip
    with urllib.request.urlopen(request, timeout=5) as response:
        return bytes(response.read())


def test_new_update_delete_and_stats_frames_arrive_in_mailpits_shape(sink: Sink) -> None:
    with connect(ws_url(sink), open_timeout=5) as ws:
        assert frame(ws) == {
            "Type": "stats",
            "Data": {"Total": 0, "Unread": 0, "Version": ws_version()},
        }
        smtp_send(sink, ["bob@example.test"], raw_message(subject="Live"))
        new = frame(ws, "new")["Data"]
        assert new["Subject"] == "Live"
        assert new["To"] == [{"Name": "Bob", "Address": "bob@example.test"}]
        assert frame(ws, "stats")["Data"] | {"Version": ""} == {
            "Total": 1, "Unread": 1, "Version": ""
        }  # fmt: skip
        api(sink, "PUT", "/api/v1/messages", {"IDs": [new["ID"]], "Read": True})
        assert frame(ws, "update")["Data"] == {"ID": new["ID"], "Read": True}
        api(sink, "DELETE", "/api/v1/messages", {"IDs": [new["ID"]]})
        assert frame(ws, "delete")["Data"] == {"ID": new["ID"]}
        api(sink, "DELETE", "/api/v1/messages")
        assert frame(ws, "truncate")["Data"] is None


def ws_version() -> str:
    from mailsink import __version__

    return __version__


@pytest.mark.parametrize("origin", ["http://evil.example.test", "null", "http://127.0.0.1:1"])
def test_a_browser_page_from_a_foreign_origin_is_refused(sink: Sink, origin: str) -> None:
    """Mailpit CVE-2026-22689: any web page could read the mailbox live."""
    with pytest.raises(InvalidStatus) as refused:
        connect(ws_url(sink), origin=Origin(origin), open_timeout=5)
    assert refused.value.response.status_code == 403
    assert b"Origin" in refused.value.response.body


def test_the_servers_own_origin_and_a_cors_origin_are_let_in(sink: Sink) -> None:
    for origin in (str(sink.web_url), "http://app.example.test"):
        with connect(ws_url(sink), origin=Origin(origin), open_timeout=5) as ws:
            assert frame(ws)["Type"] == "stats"


def _raw_upgrade(sink: Sink, host: str, extra: str = "") -> bytes:
    """Send an upgrade request by hand and return the head of the answer."""
    address = sink.http_address
    assert address is not None
    with socket.create_connection(address, timeout=5) as conn:
        conn.sendall(
            f"GET /api/events HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\n"
            "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            f"Sec-WebSocket-Version: 13\r\n{extra}\r\n".encode()
        )
        return conn.recv(4096)


def test_a_foreign_host_header_is_refused(sink: Sink) -> None:
    """DNS rebinding: the same Host check as every HTTP request."""
    assert _raw_upgrade(sink, "rebind.example.test").startswith(b"HTTP/1.1 400 ")
    assert _raw_upgrade(sink, "localhost").startswith(b"HTTP/1.1 101 ")


def test_a_malformed_upgrade_is_a_400_not_a_dropped_connection(sink: Sink) -> None:
    answer = _raw_upgrade(sink, "localhost", "Host: second.example.test\r\n")
    assert answer.startswith(b"HTTP/1.1 400 ")


def test_an_upgrade_whose_head_arrives_in_pieces_is_accepted(sink: Sink) -> None:
    """A client or proxy may write the request line and the headers apart (issue 13)."""
    address = sink.http_address
    assert address is not None
    with socket.create_connection(address, timeout=5) as conn:
        conn.sendall(b"GET /api/events HTTP/1.1\r\nHost: localhost\r\n")
        time.sleep(0.3)  # the server peeks at this piece alone
        conn.sendall(
            b"Upgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        assert conn.recv(4096).startswith(b"HTTP/1.1 101 ")


def test_an_upgrade_trickled_in_byte_by_byte_is_cut_off_at_the_handshake_deadline(
    sink: Sink,
) -> None:
    """Handing unfinished heads to the hub must not let a slow client hold a socket for ever."""
    from mailsink.web.websocket import HANDSHAKE_SECONDS

    address = sink.http_address
    assert address is not None
    with socket.create_connection(address, timeout=5) as conn:
        conn.sendall(b"GET /api/events HTTP/1.1\r\n")
        started = time.monotonic()
        closed = False
        while time.monotonic() - started < HANDSHAKE_SECONDS + 5:
            try:
                conn.sendall(b"X")  # a byte a second: no single read ever waits long
                conn.settimeout(1)
                closed = conn.recv(1) == b""
            except TimeoutError:
                continue
            except OSError:
                closed = True
            if closed:
                break
        assert closed, "the server still waits for the rest of the head"
        assert time.monotonic() - started >= HANDSHAKE_SECONDS - 1


def test_a_plain_get_in_pieces_is_a_400_too(sink: Sink) -> None:
    address = sink.http_address
    assert address is not None
    with socket.create_connection(address, timeout=5) as conn:
        conn.sendall(b"GET /api/events HTTP/1.1\r\n")
        time.sleep(0.3)
        conn.sendall(b"Host: localhost\r\n\r\n")
        answer = conn.recv(4096)
    assert answer.startswith(b"HTTP/1.1 400 ") and b"WebSocket" in answer


def test_a_plain_get_is_a_400_that_says_what_the_path_is(sink: Sink) -> None:
    with pytest.raises(urllib.error.HTTPError) as error:
        urllib.request.urlopen(f"{sink.web_url}/api/events", timeout=5)
    with error.value:
        assert error.value.code == 400
        assert "WebSocket" in json.loads(error.value.read())["Error"]


def test_the_http_api_still_answers_while_clients_are_connected(sink: Sink) -> None:
    with connect(ws_url(sink), open_timeout=5) as one, connect(ws_url(sink), open_timeout=5):
        assert frame(one)["Type"] == "stats"
        assert json.loads(api(sink, "GET", "/api/v1/messages"))["total"] == 0
        smtp_send(sink, ["bob@example.test"], raw_message(subject="Both"))
        assert frame(one, "new")["Data"]["Subject"] == "Both"


def test_stopping_the_sink_closes_the_connection_as_going_away() -> None:
    sink = Sink(Settings(smtp_port=0, http_port=0, tls=False)).start()
    ws = connect(ws_url(sink), open_timeout=5, legacy=True)
    assert frame(ws)["Type"] == "stats"
    sink.stop()
    with pytest.raises(ConnectionClosed) as closed:
        ws.recv(timeout=5)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1001


def test_behind_ui_auth_the_feed_needs_the_login_too() -> None:
    """Upgrades reach the WebSocket hub without passing Flask's login check."""
    import base64

    settings = Settings(smtp_port=0, http_port=0, tls=False, ui_auth=(("ann", "s3cret"),))
    with Sink(settings) as running:
        for header in ({}, {"Authorization": "Basic " + base64.b64encode(b"ann:wrong").decode()}):
            with pytest.raises(InvalidStatus) as refused:
                connect(ws_url(running), additional_headers=header, open_timeout=5)
            assert refused.value.response.status_code == 401
        login = {"Authorization": "Basic " + base64.b64encode(b"ann:s3cret").decode()}
        with connect(ws_url(running), additional_headers=login, open_timeout=5) as ws:
            assert frame(ws)["Type"] == "stats"
