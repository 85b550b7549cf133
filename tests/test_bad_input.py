"""Nothing a client sends takes the listener down, and nothing accepted is altered."""

from __future__ import annotations

import smtplib
import socket

from helpers import make_raw
from mailsink.server import Sink

HOSTILE = [
    b"Subject: \xff\xfe\x00 invalid utf-8\r\n\r\n\x00\x01\x02 body\r\n",
    b'Content-Type: multipart/mixed; boundary="x"\r\n\r\n--x\r\n--x\r\n--x--\r\n',
    b"".join(
        b'Content-Type: multipart/mixed; boundary="b%d"\r\n\r\n--b%d\r\n' % (i, i)
        for i in range(2000)
    ),
    b"X-Huge: " + b"a" * 200_000 + b"\r\n\r\nbody\r\n",
    b"no header separator at all",
    b"\r\n\r\n\r\n",
]


def test_hostile_messages_are_stored_byte_exact(sink: Sink) -> None:
    with smtplib.SMTP(*sink.smtp_address) as client:
        for raw in HOSTILE:
            client.sendmail("a@x.test", ["b@x.test"], raw)
    stored = [sink.store.raw(m.id) for m in reversed(sink.store.list(limit=100).items)]
    expected = [raw if raw.endswith(b"\r\n") else raw + b"\r\n" for raw in HOSTILE]
    assert stored == expected


def test_listener_survives_garbage_and_abrupt_disconnects(sink: Sink) -> None:
    for payload in [
        b"\x00\xff\xfe garbage\r\n",
        b"EHLO x\r\nMAIL FROM:<a@x.test>\r\nRCPT TO:<b@x.test>\r\nDATA\r\npartial mess",
        b"A" * 100_000,
        b"EHLO " + b"x" * 5000 + b"\r\n",
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",  # a TLS ClientHello on the plain port
    ]:
        with socket.create_connection(sink.smtp_address, timeout=5) as sock:
            sock.recv(1024)
            sock.sendall(payload)
    with smtplib.SMTP(*sink.smtp_address) as client:
        client.sendmail("a@x.test", ["b@x.test"], make_raw(subject="still alive"))
    assert [m.summary.subject for m in sink.store.list().items] == ["still alive"]


def test_overlong_command_line_gets_500_not_a_crash(sink: Sink) -> None:
    with socket.create_connection(sink.smtp_address, timeout=5) as sock:
        stream = sock.makefile("rb")
        stream.readline()
        sock.sendall(b"MAIL FROM:<" + b"a" * 2000 + b"@x.test>\r\n")
        assert stream.readline().startswith(b"500")
        sock.sendall(b"NOOP\r\n")
        assert stream.readline().startswith(b"250")
