"""What the listener logs when a client misbehaves: one line, no traceback."""

from __future__ import annotations

import logging
import smtplib
import ssl
import time

import pytest

from mailsink.server import Sink


def test_a_refused_certificate_is_logged_in_one_line_without_a_traceback(
    sink: Sink, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    with smtplib.SMTP(*sink.smtp_address) as client, pytest.raises(ssl.SSLError):
        client.starttls(context=ssl.create_default_context())  # does not trust our certificate
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and not any(
        "TLS handshake" in r.getMessage() for r in caplog.records
    ):
        time.sleep(0.02)
    handshake = [r for r in caplog.records if "TLS handshake" in r.getMessage()]
    assert len(handshake) == 1
    assert handshake[0].levelno == logging.WARNING
    assert "unknown ca" in handshake[0].getMessage().lower()
    assert [r for r in caplog.records if r.exc_info] == []
