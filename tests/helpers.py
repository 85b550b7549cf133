"""Small helpers shared by tests: building messages and incoming records."""

from __future__ import annotations

import random
import smtplib
import socket
import time
from typing import TYPE_CHECKING

from mailsink.message import Envelope, new_id, summarize
from mailsink.store.base import Incoming

if TYPE_CHECKING:
    from playwright.sync_api import Page


def make_raw(
    subject: str = "Hello",
    sender: str = "alice@example.test",
    to: str = "bob@example.test",
    body: str = "Hi Bob",
    extra_headers: str = "",
) -> bytes:
    """Return a small RFC 5322 message as CRLF bytes."""
    text = (
        f"From: {sender}\r\nTo: {to}\r\nSubject: {subject}\r\n"
        f"Message-ID: <{new_id()}@example.test>\r\n{extra_headers}\r\n{body}\r\n"
    )
    return text.encode()


def incompressible(seed: int, chars: int = 2800) -> str:
    """Return ``chars`` seeded random hex digits: a body zlib cannot halve.

    The SQLite store compresses what it keeps, so tests that count messages
    per blob segment need bodies that stay big (2,800 digits: ~1.8 KB stored,
    three messages to a 4,000-byte segment).
    """
    return random.Random(seed).randbytes(chars // 2).hex()


def incoming(
    raw: bytes | None = None, rcpts: tuple[str, ...] = ("bob@example.test",), **kw: str
) -> Incoming:
    """Return an Incoming record for raw bytes (made with make_raw when None)."""
    raw = raw if raw is not None else make_raw(**kw)
    envelope = Envelope("alice@example.test", rcpts, helo="client.test", peer="127.0.0.1:1")
    return Incoming(new_id(), time.time(), raw, envelope, summarize(raw, envelope))


def delivery_times(smtp_address: tuple[str, int], seconds: float) -> list[float]:
    """Deliver small messages one at a time, a connection each, for ``seconds``; time each."""
    times = []
    until = time.monotonic() + seconds
    while time.monotonic() < until:
        began = time.perf_counter()
        with smtplib.SMTP(*smtp_address, timeout=60) as client:
            client.sendmail("good@x.test", ["b@x.test"], make_raw())
        times.append(time.perf_counter() - began)
    return times


def p95(values: list[float]) -> float:
    """Return the 95th percentile of latencies (the availability tests' measure)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]


def dkim_key() -> tuple[bytes, str]:
    """Return (PEM private key, base64 public key for a DKIM ``p=`` tag) of a new RSA key."""
    import base64

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    der = private.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return pem, base64.b64encode(der).decode()


def raw_session(address: tuple[str, int], lines: list[bytes]) -> list[bytes]:
    """Send raw SMTP lines one by one; return the greeting, then each one's last reply line.

    For what ``smtplib`` cannot send: 8-bit bytes, bare LFs, commands out of order.
    """
    with socket.create_connection(address, timeout=10) as sock:
        stream = sock.makefile("rb")
        replies = [stream.readline()]
        for line in lines:
            sock.sendall(line)
            reply = stream.readline()
            while reply[3:4] == b"-":
                reply = stream.readline()
            replies.append(reply)
        return replies


def wait_until(page: Page, expression: str, timeout_ms: float = 5_000) -> None:
    """Wait until a JavaScript expression is truthy in the page.

    Playwright's ``wait_for_function`` polls a string by ``eval`` inside the page,
    which the UI's CSP (no ``unsafe-eval``) refuses whenever the first check is
    false; ``page.evaluate`` runs through the debugger protocol, outside the CSP.
    """
    deadline = time.monotonic() + timeout_ms / 1000
    while not page.evaluate(expression):
        if time.monotonic() > deadline:
            raise AssertionError(f"still false after {timeout_ms:.0f} ms: {expression}")
        page.wait_for_timeout(25)
