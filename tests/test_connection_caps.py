"""Connection caps for SMTP and HTTP, per peer, under the open-file limit (issue 11.6)."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable

from mailsink.server import Sink


def _greeting(address: tuple[str, int], source: str = "127.0.0.1") -> tuple[socket.socket, bytes]:
    sock = socket.create_connection(address, timeout=10, source_address=(source, 0))
    return sock, sock.makefile("rb").readline()


def test_smtp_connections_past_the_cap_get_421(make_sink: Callable[..., Sink]) -> None:
    sink = make_sink(max_connections=5, max_connections_per_peer=5)
    held = [_greeting(sink.smtp_address) for _ in range(5)]
    assert all(greeting.startswith(b"220") for _sock, greeting in held)
    extra, greeting = _greeting(sink.smtp_address)
    assert greeting.startswith(b"421 4.7.0") and b"too many connections" in greeting
    extra.close()
    held.pop()[0].close()
    time.sleep(0.2)
    again, greeting = _greeting(sink.smtp_address)
    assert greeting.startswith(b"220")
    for sock in [again, *(sock for sock, _ in held)]:
        sock.close()


def test_one_peer_cannot_take_every_smtp_place(make_sink: Callable[..., Sink]) -> None:
    sink = make_sink(max_connections=10, max_connections_per_peer=2)
    held = [_greeting(sink.smtp_address) for _ in range(2)]
    third, greeting = _greeting(sink.smtp_address)
    assert greeting.startswith(b"421") and b"127.0.0.1" in greeting
    other, greeting = _greeting(sink.smtp_address, source="127.0.0.2")
    assert greeting.startswith(b"220")
    for sock in [third, other, *(sock for sock, _ in held)]:
        sock.close()


def test_one_peer_cannot_take_every_http_place(make_sink: Callable[..., Sink]) -> None:
    """The attack: 100+ idle connections (slowloris) and the UI and API stopped answering."""
    sink = make_sink(http_port=0, max_connections_per_peer=3)
    host, port = sink.http_address  # type: ignore[misc]
    idle = [socket.create_connection((host, port), timeout=10) for _ in range(3)]
    time.sleep(0.2)
    refused = socket.create_connection((host, port), timeout=10)
    refused.sendall(b"GET /livez HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    assert refused.recv(100).startswith(b"HTTP/1.1 429")
    other = socket.create_connection((host, port), timeout=10, source_address=("127.0.0.2", 0))
    other.sendall(b"GET /livez HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    assert other.recv(100).startswith(b"HTTP/1.1 200")
    for sock in [refused, other, *idle]:
        sock.close()


ULIMIT_256 = (
    "import resource, runpy; resource.setrlimit(resource.RLIMIT_NOFILE, (256, 256)); "
    "runpy.run_module('mailsink', run_name='__main__')"
)
"""Run mailsink with macOS's default open-file limit, and no way to raise it."""


def test_300_idle_smtp_sockets_under_ulimit_256_leave_http_up_and_the_log_quiet() -> None:
    """The attack: 299 idle sockets made SMTP and HTTP unreachable; the log grew 0.9 MB/s."""
    process = subprocess.Popen(
        [sys.executable, "-c", ULIMIT_256, "--smtp", "127.0.0.1:0", "--http", "127.0.0.1:0",
         "--no-tls"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert process.stdout is not None
    lines: list[str] = []
    while not lines or "ready;" not in lines[-1]:
        lines.append(process.stdout.readline())
        assert lines[-1], f"mailsink did not start: {lines}"
    text = "".join(lines)
    smtp_port = int(text.split("SMTP on 127.0.0.1:")[1].split()[0])
    web = text.split("web UI and API at ")[1].split()[0].rstrip("/")
    held = []
    codes = []
    try:
        for _ in range(300):
            sock, greeting = _greeting(("127.0.0.1", smtp_port))
            held.append(sock)
            codes.append(greeting[:3])
        assert b"220" in codes and b"421" in codes
        with urllib.request.urlopen(f"{web}/livez", timeout=10) as response:
            assert response.status == 200
        time.sleep(1)
    finally:
        for sock in held:
            sock.close()
        process.terminate()
        _out, err = process.communicate(timeout=30)
    assert len(err) < 20_000, f"{len(err)} bytes logged: {err[:500]}"
