"""The webhook: a receiver on loopback gets one POST per message, none beyond the limit."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from api_helpers import raw_message, smtp_send

from mailsink.config import Settings, SettingsError
from mailsink.server import Sink


class Receiver:
    """An HTTP server on 127.0.0.1 port 0 that records each POST and answers as told."""

    def __init__(self, status: int = 200) -> None:
        self.posts: list[tuple[str, dict[str, str], Any]] = []
        self.status = status
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                receiver.posts.append((self.path, dict(self.headers), json.loads(body)))
                self.send_response(receiver.status)
                if receiver.status in (301, 302, 307, 308):
                    self.send_header("Location", "/elsewhere")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def wait_for(self, count: int, timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        while len(self.posts) < count and time.monotonic() < deadline:
            time.sleep(0.01)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    made = Receiver()
    yield made
    made.close()


def _sink(url: str, limit: float = 0.0) -> Sink:
    settings = Settings(
        smtp_port=0, http_port=None, tls=False, webhook_url=url, webhook_limit=limit
    )
    return Sink(settings).start()


def test_each_message_gets_one_post_of_its_summary(receiver: Receiver) -> None:
    sink = _sink(receiver.url)
    try:
        for n in range(3):
            smtp_send(sink, ["bob@example.test"], raw_message(subject=f"hook {n}"))
        receiver.wait_for(3)
        time.sleep(0.2)  # and no more
    finally:
        sink.stop()
    assert [body["Subject"] for _path, _headers, body in receiver.posts] == [
        "hook 0", "hook 1", "hook 2"
    ]  # fmt: skip
    path, headers, body = receiver.posts[0]
    assert path == "/hook"
    assert headers["Content-Type"] == "application/json"
    assert {"ID", "MessageID", "From", "To", "Subject", "Created", "Size", "Snippet"} <= set(body)


def test_no_post_once_the_limit_is_reached(receiver: Receiver) -> None:
    sink = _sink(receiver.url, limit=2)
    try:
        for n in range(6):
            smtp_send(sink, ["bob@example.test"], raw_message(subject=f"burst {n}"))
        receiver.wait_for(2)
        time.sleep(0.3)
        arrivals = sorted(m.received for m in sink.store.list(0, 10).items)
    finally:
        sink.stop()
    # The limit counts arrival times in any one-second window: replay them.
    allowed: list[float] = []
    for stamp in arrivals:
        if len([t for t in allowed if t > stamp - 1.0]) < 2:
            allowed.append(stamp)
    assert len(receiver.posts) == len(allowed)
    assert sink.webhook is not None and sink.webhook.skipped == 6 - len(allowed)
    if arrivals[-1] - arrivals[0] < 1.0:  # the usual case: all six inside one second
        assert len(receiver.posts) == 2


def test_a_redirect_is_not_followed_and_a_dead_receiver_never_blocks_smtp() -> None:
    redirecting = Receiver(status=302)
    try:
        sink = _sink(redirecting.url)
        try:
            smtp_send(sink, ["bob@example.test"], raw_message(subject="moved"))
            redirecting.wait_for(1)
            time.sleep(0.3)
        finally:
            sink.stop()
        assert [path for path, _h, _b in redirecting.posts] == ["/hook"]  # not /elsewhere
    finally:
        redirecting.close()
    with socket.socket() as probe:  # a port that was free a moment ago: refused
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    sink = _sink(f"http://127.0.0.1:{port}/nobody-listens")
    try:
        began = time.monotonic()
        for n in range(5):
            smtp_send(sink, ["bob@example.test"], raw_message(subject=f"lost {n}"))
        assert time.monotonic() - began < 2.0
        assert sink.store.count() == 5
    finally:
        sink.stop()


@pytest.mark.parametrize("url", ["ftp://example.test/", "file:///etc/passwd", "http://", "junk"])
def test_a_webhook_url_that_is_not_http_is_refused_in_the_settings(url: str) -> None:
    with pytest.raises(SettingsError, match=r"webhook_url.*http"):
        Settings(webhook_url=url)
