"""The ``mailsink`` command: start-up lines, flags, environment, clean stop."""

from __future__ import annotations

import json
import signal
import smtplib
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from helpers import make_raw
from mailsink.cli import settings_from_args
from procs import start_mailsink


def test_starts_on_free_ports_serves_and_stops_on_sigterm(tmp_path: Path) -> None:
    running = start_mailsink(
        "--smtp", "127.0.0.1:0", "--http", "127.0.0.1:0", "--store", str(tmp_path / "m.db")
    )
    try:
        assert running.smtp[1] > 0
        assert running.web_url is not None
        assert any("TLS certificate" in line for line in running.lines)
        with smtplib.SMTP(*running.smtp) as client:
            client.sendmail("a@x.test", ["b@x.test"], make_raw())
        with urllib.request.urlopen(running.web_url + "/readyz", timeout=10) as response:
            assert json.load(response)["messages"] == 1
    finally:
        running.process.send_signal(signal.SIGTERM)
        out, err = running.process.communicate(timeout=20)
    assert running.process.returncode == 0, err
    assert "stopped" in out


def test_ctrl_c_stops_cleanly() -> None:
    running = start_mailsink("--smtp", "127.0.0.1:0", "--http", "off")
    running.process.send_signal(signal.SIGINT)
    _out, err = running.process.communicate(timeout=20)
    assert running.process.returncode == 0, err
    assert "Traceback" not in err


def test_environment_variables_configure_it() -> None:
    settings = settings_from_args(
        [],
        {
            "MAILSINK_SMTP": "0.0.0.0:2525",
            "MAILSINK_HTTP": "off",
            "MAILSINK_MAX_SIZE": "10M",
            "MAILSINK_MAX_MESSAGES": "7",
            "MAILSINK_TLS": "0",
            "MAILSINK_AUTH": "u:p,v:q",
        },
    )
    assert (settings.smtp_host, settings.smtp_port) == ("0.0.0.0", 2525)
    assert settings.http_port is None
    assert settings.max_size == 10 * 1024 * 1024
    assert settings.max_messages == 7
    assert settings.tls is False
    assert settings.auth_users == (("u", "p"), ("v", "q"))


def test_webhook_and_metrics_flags() -> None:
    s = settings_from_args(
        ["--webhook-url", "http://127.0.0.1:9000/hook", "--webhook-limit", "5/s"],
        {"MAILSINK_METRICS": "off"},
    )
    assert (s.webhook_url, s.webhook_limit, s.metrics) == ("http://127.0.0.1:9000/hook", 5.0, False)
    assert settings_from_args([], {}).metrics is True


def test_flags_win_over_environment() -> None:
    settings = settings_from_args(["--smtp", ":1234"], {"MAILSINK_SMTP": "127.0.0.1:2525"})
    assert (settings.smtp_host, settings.smtp_port) == ("127.0.0.1", 1234)


def test_defaults_are_loopback_1025_and_8025_with_memory_store() -> None:
    s = settings_from_args([], {})
    assert (s.smtp_host, s.smtp_port, s.http_host, s.http_port) == (
        "127.0.0.1",
        1025,
        "127.0.0.1",
        8025,
    )
    assert s.store == "memory"


@pytest.mark.parametrize(
    "args",
    [
        ["--smtp", "nonsense"],
        ["--max-size", "lots"],
        ["--auth", "nocolon"],
        ["--smtp", "1.2.3.4:99999"],
        ["--webhook-url", "ftp://example.test/"],
        ["--webhook-limit", "fast"],
        ["--metrics", "maybe"],
    ],
)
def test_bad_flags_give_a_clear_error(args: list[str]) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "mailsink", *args], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 2
    assert "error:" in result.stderr
    assert "Traceback" not in result.stderr


def test_non_loopback_bind_prints_a_warning() -> None:
    running = start_mailsink("--smtp", "0.0.0.0:0", "--http", "off")
    running.process.send_signal(signal.SIGTERM)
    out, _err = running.process.communicate(timeout=20)
    assert any(
        "WARNING: SMTP is bound to 0.0.0.0" in line for line in running.lines + out.splitlines()
    )


def test_port_in_use_is_a_clear_error() -> None:
    running = start_mailsink("--smtp", "127.0.0.1:0", "--http", "off")
    try:
        port = running.smtp[1]
        result = subprocess.run(
            [sys.executable, "-m", "mailsink", "--smtp", f"127.0.0.1:{port}", "--http", "off"],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert result.returncode == 1
        assert "cannot start" in result.stderr
    finally:
        running.process.send_signal(signal.SIGTERM)
        running.process.communicate(timeout=20)


def test_pop3_and_imap_flags_and_their_start_up_lines() -> None:
    s = settings_from_args(["--imap", "127.0.0.1:1143", "--pop3s", ":1995"], {"MAILSINK_POP3": "0"})
    assert (s.imap_host, s.imap_port, s.pop3s_host, s.pop3s_port) == (
        "127.0.0.1",
        1143,
        "127.0.0.1",
        1995,
    )
    assert (s.pop3_port, s.imaps_port) == (0, None)
    assert settings_from_args([], {}).reader_endpoints() == []
    running = start_mailsink("--smtp", ":0", "--http", "off", "--imap", ":0", "--pop3", ":0")
    running.process.send_signal(signal.SIGTERM)
    out, _err = running.process.communicate(timeout=20)
    text = "\n".join(running.lines)
    assert "  IMAP on 127.0.0.1:" in text and "  POP3 on 127.0.0.1:" in text
    assert "stopped" in out
