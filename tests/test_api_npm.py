"""The real npm clients (``mailpit-api``, ``mailhog``, ``ws``) drive a real sink from node.

``clients.cjs`` calls every method of ``mailpit-api``'s ``MailpitClient`` (it
checks that none was left out) and of the ``mailhog`` client, and listens on
the WebSocket feed with ``ws``.  The calls that wait for other work are
that need an option the test's sink is not started with (``--link-check``,
``--spamassassin``, ``--relay``) are listed in ``NEEDS_OPTION``: they must fail
with the clear 4xx given there, never a 404 or 5xx.  The sink runs with
``--enable-chaos``, so the chaos calls work.

The clients are installed with ``npm ci`` from ``tests/npm/package-lock.json``
into a temporary folder, so CI needs ``node`` (>= 18) and ``npm`` on the PATH
and access to the npm registry (Debian: ``apt-get install -y nodejs npm``).
The test is skipped only when node or npm is missing.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from api_helpers import smtp_send

from mailsink.config import Settings
from mailsink.server import Sink

pytest_plugins = ["conftest_api"]

NODE = shutil.which("node")
NPM = shutil.which("npm")
NPM_DIR = Path(__file__).parent / "npm"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not (NODE and NPM), reason="node and npm are needed (apt-get install -y nodejs npm)"
    ),
]


@pytest.fixture(scope="session")
def npm_clients(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Install the pinned npm clients into a temporary folder and return it."""
    folder = tmp_path_factory.mktemp("npm-clients")
    for name in ("package.json", "package-lock.json", "clients.cjs"):
        shutil.copy(NPM_DIR / name, folder / name)
    result = subprocess.run(
        [str(NPM), "ci", "--no-audit", "--no-fund", "--loglevel=error"],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, f"npm ci failed:\n{result.stdout}\n{result.stderr}"
    return folder


NEEDS_OPTION = {
    "linkCheck": 403,  # --link-check
    "spamAssassinCheck": 403,  # --spamassassin HOST:PORT
    "releaseMessage": 400,  # --relay URL
    "mailhog releaseMessage": 400,
}

SMTP_MESSAGE = (
    b"From: Python <python@example.test>\r\nTo: smtp-user@example.test\r\n"
    b"Subject: From smtplib\r\nMIME-Version: 1.0\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"Content-Transfer-Encoding: quoted-printable\r\n\r\n"
    b"Gr=C3=BC=C3=9Fe from Python\r\n"
)


@pytest.fixture
def chaos_sink(tmp_path: Path) -> Iterator[Sink]:
    """Yield a running sink over SQLite with --enable-chaos (the chaos calls need it)."""
    settings = Settings(
        smtp_port=0, http_port=0, tls=False, store=str(tmp_path / "sink.db"), enable_chaos=True
    )
    with Sink(settings) as sink:
        yield sink


def test_mailpit_api_and_mailhog_npm_clients_work_against_a_real_sink(
    npm_clients: Path, chaos_sink: Sink
) -> None:
    smtp_send(chaos_sink, ["smtp-user@example.test"], SMTP_MESSAGE, "python@example.test")
    result = subprocess.run(
        [str(NODE), "clients.cjs", str(chaos_sink.web_url)],
        cwd=npm_clients,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}"
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["ok"] is True
    assert len(report["steps"]) == 21, report["steps"]
    assert "mailpit-api: all 27 methods called" in report["steps"]
    assert {p["name"]: p["status"] for p in report["pending"]} == NEEDS_OPTION
    assert chaos_sink.store.count() == 0  # the mailhog client's deleteAll went through
