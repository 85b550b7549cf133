"""Helpers for the POP3 and IMAP tests: sinks with the readers on, sending, raw sessions."""

from __future__ import annotations

import smtplib
import socket
import ssl
from pathlib import Path
from typing import Any

from mailsink.server import Sink


def reader_sink(make_sink: Any, kind: str, tmp_path: Path, **overrides: object) -> Sink:
    """Start a sink with POP3 and IMAP on free ports, on a memory or SQLite store."""
    options: dict[str, object] = {"pop3_port": 0, "imap_port": 0}
    if kind == "sqlite":
        options["store"] = str(tmp_path / "mail.db")
    options.update(overrides)
    sink: Sink = make_sink(**options)
    return sink


def send(sink: Sink, raw: bytes, to: tuple[str, ...] = ("bob@example.test",)) -> str:
    """Send a message by SMTP; return the ID from the 250 reply."""
    host, port = sink.smtp_address
    with smtplib.SMTP(host, port) as client:
        client.ehlo()
        client.mail("alice@example.test")
        for rcpt in to:
            client.rcpt(rcpt)
        code, reply = client.data(raw)
    assert code == 250, reply
    return reply.decode().rsplit(" ", 1)[-1]


def client_context(sink: Sink) -> ssl.SSLContext:
    """Return a client TLS context that trusts the sink's certificate."""
    assert sink.certificate is not None
    return ssl.create_default_context(cafile=str(sink.certificate.cert))


class RawSession:
    """A plain socket to a POP3 or IMAP listener, for what no client library will send."""

    def __init__(self, address: tuple[str, int], timeout: float = 5.0) -> None:
        self.sock = socket.create_connection(address, timeout=timeout)
        self.file = self.sock.makefile("rb")

    def line(self) -> bytes:
        return self.file.readline()

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def until(self, prefix: bytes) -> list[bytes]:
        """Read lines until one starts with prefix (a tag); return them all."""
        lines: list[bytes] = []
        while True:
            line = self.file.readline()
            if not line:
                raise EOFError(b"".join(lines))
            lines.append(line)
            if line.startswith(prefix):
                return lines

    def close(self) -> None:
        self.file.close()
        self.sock.close()
