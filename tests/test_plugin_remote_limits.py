"""Remote mode against a hostile or broken server: caps, deadlines, escaped IDs (issue 11.9)."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from mailsink.pytest_plugin.options import PluginOptions
from mailsink.pytest_plugin.remote import MAX_RESPONSE_BYTES, RemoteError, RemoteServer


@pytest.fixture
def fake_sink() -> Iterator[Callable[[Callable[[socket.socket, bytes], None]], RemoteServer]]:
    """Serve each connection with a handler on a real socket; return a RemoteServer for it."""
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()
    threads: list[threading.Thread] = []

    def make(handle: Callable[[socket.socket, bytes], None]) -> RemoteServer:
        def serve() -> None:
            listener.settimeout(0.2)
            while not stop.is_set():
                try:
                    conn, _addr = listener.accept()
                except TimeoutError:
                    continue
                with conn:
                    request = conn.recv(65536)
                    with contextlib.suppress(OSError):
                        handle(conn, request)

        thread = threading.Thread(target=serve, daemon=True)
        thread.start()
        threads.append(thread)
        port = listener.getsockname()[1]
        return RemoteServer(PluginOptions(url=f"http://127.0.0.1:{port}", smtp=("127.0.0.1", 1)))

    yield make
    stop.set()
    for thread in threads:
        thread.join(5)
    listener.close()


def test_a_huge_answer_is_refused_not_read(fake_sink: Callable[..., RemoteServer]) -> None:
    def huge(conn: socket.socket, _request: bytes) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 314572800\r\n\r\n" + b"x" * 65536)

    server = fake_sink(huge)
    with pytest.raises(RemoteError, match="over"):
        server.request("/api/v1/messages")
    assert MAX_RESPONSE_BYTES < 314572800


def test_a_slow_server_cannot_hold_a_request_past_its_timeout(
    fake_sink: Callable[..., RemoteServer],
) -> None:
    """The attack: a byte a second kept every socket read under the timeout, forever."""

    def trickle(conn: socket.socket, _request: bytes) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n")
        for _ in range(100):
            conn.sendall(b"x")
            time.sleep(0.2)

    server = fake_sink(trickle)
    began = time.monotonic()
    with pytest.raises(RemoteError):
        server.request("/api/v1/messages", timeout=1.0)
    assert time.monotonic() - began < 3


def test_message_ids_are_escaped_in_urls(fake_sink: Callable[..., RemoteServer]) -> None:
    paths: list[str] = []

    def answer(conn: socket.socket, request: bytes) -> None:
        path = request.split(b" ")[1].decode()
        paths.append(path)
        if path.startswith("/api/v1/search"):
            body = json.dumps({"messages": [{"ID": "../../evil?x=1", "To": [], "Cc": []}]})
        else:
            body = "Subject: x\r\n\r\nbody\r\n"
        data = body.encode()
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(data) + data)

    capture = fake_sink(answer).capture()
    capture.messages()
    assert "/api/v1/message/..%2F..%2Fevil%3Fx%3D1/raw" in paths


@pytest.mark.parametrize(
    ("name", "domain"),
    [
        ("evil\r\nRCPT TO:<x", "example.test"),
        ("user", "example.test>\r\nRCPT TO:<evil@x"),
        ("a b", "example.test"),
        ('"quoted"', "example.test"),
        ("user", "exa mple.test"),
    ],
)
def test_address_refuses_what_could_smuggle_a_command(
    mailsink: object, name: str, domain: str
) -> None:
    with pytest.raises(ValueError, match="plain address"):
        mailsink.address(name, domain)  # type: ignore[attr-defined]


def test_address_still_makes_plain_addresses(mailsink: object) -> None:
    address = mailsink.address("first.last", "mail.example.test")  # type: ignore[attr-defined]
    assert address.startswith("first.last+") and address.endswith("@mail.example.test")
