"""Real SMTP clients other than smtplib deliver to a running sink (swaks)."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from mailsink.server import Sink

swaks = shutil.which("swaks")
needs_swaks = pytest.mark.skipif(
    swaks is None, reason="swaks is not installed (scripts/test installs it)"
)


def run_swaks(sink: Sink, *extra: str) -> subprocess.CompletedProcess[str]:
    host, port = sink.smtp_address
    return subprocess.run(
        [
            swaks or "swaks",
            "--server",
            host,
            "--port",
            str(port),
            "--from",
            "app@x.test",
            "--header",
            "Subject: from swaks",
            *extra,
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )


@needs_swaks
def test_swaks_plain(sink: Sink) -> None:
    result = run_swaks(sink, "--to", "user@y.test")
    assert result.returncode == 0, result.stdout + result.stderr
    assert sink.store.list().items[0].summary.subject == "from swaks"


@needs_swaks
def test_swaks_starttls_and_auth(sink: Sink) -> None:
    result = run_swaks(
        sink,
        "--tls",
        "--auth",
        "LOGIN",
        "--auth-user",
        "swaksuser",
        "--auth-password",
        "pw",
        "--to",
        "user@y.test,hidden@z.test",
        "--h-To",
        "user@y.test",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    message = sink.store.list().items[0]
    assert message.envelope.tls is True
    assert message.envelope.auth_user == "swaksuser"
    assert "hidden@z.test" in [a.address for a in message.summary.bcc]


@needs_swaks
def test_swaks_implicit_tls(make_sink) -> None:  # type: ignore[no-untyped-def]
    sink = make_sink(smtps_port=0)
    host, port = sink.listener.smtps_address
    result = subprocess.run(
        [
            swaks or "swaks",
            "--server",
            host,
            "--port",
            str(port),
            "--tlsc",
            "--to",
            "u@y.test",
            "--auth",
            "PLAIN",
            "--auth-user",
            "p",
            "--auth-password",
            "q",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert sink.store.list().items[0].envelope.auth_user == "p"
