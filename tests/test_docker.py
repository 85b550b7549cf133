"""The Dockerfile: what it says, and its command run here the way the image runs it.

No image can be built on these machines (no daemon, no base images), so this
reads the Dockerfile's ENV, ENTRYPOINT and HEALTHCHECK and runs exactly that
command with exactly that environment (paths under /data moved to a temporary
folder, the fixed ports made free ones, as tests never use fixed ports), then
checks that both ports answer on the 0.0.0.0 binding, from loopback and from
this machine's own network address, and that the healthcheck passes.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import smtplib
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from procs import start_mailsink

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = ROOT / "Dockerfile"

pytestmark = pytest.mark.slow


def instructions() -> list[tuple[str, str]]:
    """Return the Dockerfile's (INSTRUCTION, arguments) pairs, continuation lines joined."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    pairs = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            name, _, rest = line.partition(" ")
            pairs.append((name.upper(), rest.strip()))
    return pairs


def image_env() -> dict[str, str]:
    """Return every ENV the Dockerfile sets."""
    env: dict[str, str] = {}
    for name, rest in instructions():
        if name == "ENV":
            for item in shlex.split(rest):
                key, _, value = item.partition("=")
                env[key] = value
    return env


def exec_form(name: str) -> list[str]:
    """Return the JSON (exec form) arguments of ENTRYPOINT or of HEALTHCHECK's CMD."""
    rest = next(r for n, r in instructions() if n == name)
    return list(json.loads(rest[rest.index("[") :]))


def test_the_dockerfile_is_slim_unprivileged_and_exposes_both_ports() -> None:
    pairs = instructions()
    base = next(r for n, r in pairs if n == "FROM")
    assert re.fullmatch(r"python:3\.\d+-slim", base)
    users = [r for n, r in pairs if n == "USER"]
    assert users and users[-1] not in ("root", "0")
    assert next(r for n, r in pairs if n == "EXPOSE").split() == ["1025", "8025"]
    assert json.loads(next(r for n, r in pairs if n == "VOLUME")) == ["/data"]
    env = image_env()
    assert env["MAILSINK_SMTP"] == "0.0.0.0:1025" and env["MAILSINK_HTTP"] == "0.0.0.0:8025"
    assert env["MAILSINK_STORE"].startswith("/data/")
    assert exec_form("ENTRYPOINT") == ["mailsink"]
    assert "/readyz" in " ".join(exec_form("HEALTHCHECK"))


def _own_address() -> str | None:
    """Return this machine's non-loopback address, if it has one."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.connect(("192.0.2.1", 9))  # TEST-NET: nothing is sent
            address = str(probe.getsockname()[0])
    except OSError:
        return None
    return None if address.startswith("127.") else address


def test_the_image_command_answers_on_both_ports_bound_to_every_interface(
    tmp_path: Path,
) -> None:
    env = {}
    for key, value in image_env().items():
        value = value.replace("/data", str(tmp_path))
        env[key] = value.replace(":1025", ":0").replace(":8025", ":0")  # free ports
    assert env["MAILSINK_SMTP"] == "0.0.0.0:0" and env["MAILSINK_HTTP"] == "0.0.0.0:0"
    script = Path(sys.executable).with_name(exec_form("ENTRYPOINT")[0])
    command = [str(script)] if script.exists() else [sys.executable, "-m", "mailsink"]
    running = start_mailsink(
        command=command,
        env={**env, "PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path)},
        clean_env=True,
        cwd=str(tmp_path),
    )
    try:
        text = "\n".join(running.lines)
        assert "SMTP is bound to 0.0.0.0" in text and "HTTP is bound to 0.0.0.0" in text
        smtp_port = running.smtp[1]
        assert running.web_url is not None
        http_port = int(running.web_url.rsplit(":", 1)[1])
        hosts = ["127.0.0.1"] + ([own] if (own := _own_address()) else [])
        for host in hosts:
            with smtplib.SMTP(host, smtp_port, timeout=10) as client:
                client.sendmail("app@example.test", ["a@example.test"], b"Subject: c\r\n\r\nx\r\n")
            with urllib.request.urlopen(f"http://{host}:{http_port}/readyz", timeout=10) as r:
                assert r.status == 200
        with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/readyz", timeout=10) as r:
            assert json.load(r)["messages"] == len(hosts)
        assert (tmp_path / "mail.db").exists()  # the store is in the volume
        check = [
            part.replace("127.0.0.1:8025", f"127.0.0.1:{http_port}")
            for part in exec_form("HEALTHCHECK")
        ]
        assert check[0] == "python"
        health = subprocess.run(
            [sys.executable, *check[1:]], env=env, capture_output=True, timeout=30
        )
        assert health.returncode == 0, health.stderr
    finally:
        running.process.send_signal(signal.SIGTERM)
        running.process.communicate(timeout=20)
    assert running.process.returncode == 0


def test_the_healthcheck_speaks_https_when_the_ui_does(make_sink: object, tmp_path: Path) -> None:
    sink = make_sink(http_port=0, ui_tls=True, tls_dir=str(tmp_path), tls_cert=None, tls_key=None)  # type: ignore[operator]
    port = sink.http_address[1]
    check = [p.replace("127.0.0.1:8025", f"127.0.0.1:{port}") for p in exec_form("HEALTHCHECK")]
    env = {**image_env(), "MAILSINK_UI_TLS": "1"}
    health = subprocess.run([sys.executable, *check[1:]], env=env, capture_output=True, timeout=30)
    assert health.returncode == 0, health.stderr
    plain = subprocess.run(
        [sys.executable, *check[1:]], env=image_env(), capture_output=True, timeout=30
    )
    assert plain.returncode != 0  # http against the HTTPS port fails: the check is real
