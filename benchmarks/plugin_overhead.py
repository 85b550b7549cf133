"""Per-test overhead of the ``mailsink`` fixture: 500 tests that each send one message.

Runs the same suite, as separate pytest processes in one run, with:

* ``empty``     - 500 tests that send nothing (pytest's own cost per test);
* ``locmem``    - pytest-django's ``mailoutbox`` with Django's locmem backend (no SMTP);
* ``aiosmtpd``  - a bare aiosmtpd server in a session fixture, smtplib to send,
                  a list of envelopes cleared per test;
* ``sink``      - mailsink's server without the fixture (a session Sink, store count);
* ``mailsink``  - the ``mailsink`` fixture, smtplib to send, ``assert_sent(subject=...)``;
* ``notls``     - the same with ``mailsink_tls = off`` (no STARTTLS offered).

Each suite runs ``--rounds`` times (alternating) at ``--tests`` tests and at a
fifth of that, and the fastest wall time of each is kept.  The cost per test
is the slope between the two sizes, ``(T(n) - T(n/5)) / (n - n/5)``: what is
paid once per session - importing mailsink's server and starting the sink,
~0.3-0.7 s - cancels out.  (Dividing a whole run by its test count, as this
benchmark did before, charged that one-off start to every test: the "+0.67
ms/test" of issue 19 was start-up spread over 500 tests, not a per-test cost.)
The fixture's overhead per test is the difference of the slopes of
``mailsink`` and ``aiosmtpd``; the one-off start is reported beside it.  Also
measures the fixture's first-use start-up in a warm process (sink with and
without a generated TLS certificate).

    python -m benchmarks.plugin_overhead [--tests 500] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

SEND = """
import smtplib

def send(host, port, n):
    data = f"From: app@example.test\\r\\nTo: u@example.test\\r\\nSubject: n{n}\\r\\n\\r\\nhi\\r\\n"
    with smtplib.SMTP(host, port) as client:
        client.sendmail("app@example.test", ["u@example.test"], data.encode())
"""

SUITES = {
    "empty": (
        "",
        """
        import pytest

        @pytest.mark.parametrize("n", range(TESTS))
        def test_nothing(n):
            assert n >= 0
        """,
    ),
    "locmem": (
        "[pytest]\nDJANGO_SETTINGS_MODULE = bench_settings\npythonpath = .\n",
        """
        import pytest
        from django.core.mail import send_mail

        @pytest.mark.parametrize("n", range(TESTS))
        def test_send(mailoutbox, n):
            send_mail(f"n{n}", "hi", "app@example.test", ["u@example.test"])
            assert len(mailoutbox) == 1 and mailoutbox[0].subject == f"n{n}"
        """,
    ),
    "aiosmtpd": (
        "",
        SEND
        + """
import asyncio, threading, pytest
from aiosmtpd.smtp import SMTP

class Handler:
    def __init__(self):
        self.envelopes = []
    async def handle_DATA(self, server, session, envelope):
        self.envelopes.append(envelope)
        return "250 OK"

@pytest.fixture(scope="session")
def server():
    handler = Handler()
    loop = asyncio.new_event_loop()
    threading.Thread(target=loop.run_forever, daemon=True).start()
    async def start():
        # A fixed hostname: without it aiosmtpd calls socket.getfqdn() per connection.
        factory = lambda: SMTP(handler, hostname="bench", loop=loop)
        return await loop.create_server(factory, "127.0.0.1", 0)
    srv = asyncio.run_coroutine_threadsafe(start(), loop).result()
    yield handler, srv.sockets[0].getsockname()[1]
    loop.call_soon_threadsafe(srv.close)
    loop.call_soon_threadsafe(loop.stop)

@pytest.fixture
def outbox(server):
    handler, port = server
    handler.envelopes.clear()
    return handler, port

@pytest.mark.parametrize("n", range(TESTS))
def test_send(outbox, n):
    handler, port = outbox
    send("127.0.0.1", port, n)
    assert len(handler.envelopes) == 1
    assert f"Subject: n{n}".encode() in handler.envelopes[0].original_content
""",
    ),
    "sink": (
        "",
        SEND
        + """
import pytest
from mailsink import Settings, Sink

@pytest.fixture(scope="session")
def sink():
    with Sink(Settings(smtp_port=0, http_port=None, tls=False)) as running:
        yield running

@pytest.mark.parametrize("n", range(TESTS))
def test_send(sink, n):
    before = sink.store.count()
    send(*sink.smtp_address, n)
    assert sink.store.count() == before + 1
""",
    ),
    "mailsink": (
        "",
        SEND
        + """
import pytest

@pytest.mark.parametrize("n", range(TESTS))
def test_send(mailsink, n):
    send(mailsink.host, mailsink.port, n)
    mailsink.assert_sent(subject=f"n{n}")
""",
    ),
}
SUITES["notls"] = ("[pytest]\nmailsink_tls = off\n", SUITES["mailsink"][1])

DJANGO_SETTINGS = """
SECRET_KEY = "bench"
INSTALLED_APPS = []
DATABASES = {}
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
"""


def make_suite(root: Path, name: str, tests: int) -> Path:
    """Write one suite's files into a folder of its own and return it."""
    ini, body = SUITES[name]
    folder = root / name
    folder.mkdir(parents=True)
    (folder / "pytest.ini").write_text(ini or "[pytest]\n")
    source = textwrap.dedent(body) if body.startswith("\n        ") else body
    (folder / f"test_{name}.py").write_text(source.replace("TESTS", str(tests)))
    if name == "locmem":
        (folder / "bench_settings.py").write_text(DJANGO_SETTINGS)
    return folder


def run_suite(folder: Path, tests: int) -> float:
    """Run a suite once in a fresh pytest process; return its wall time in seconds."""
    started = time.perf_counter()
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    # Only the plugins a suite needs are loaded, so the suites differ in nothing else.
    args = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
    args += ["-p", "no:xdist", "-p", "no:playwright", "-p", "no:benchmark", "-p", "no:hypothesis"]
    if folder.name != "locmem":
        args += ["-p", "no:django"]
    result = subprocess.run(args, cwd=folder, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    if result.returncode != 0 or f"{tests} passed" not in result.stdout:
        raise RuntimeError(f"suite {folder.name} failed:\n{result.stdout[-3000:]}")
    return elapsed


def measure_startup() -> dict[str, float]:
    """Return milliseconds to start the fixture's sink, with and without TLS."""
    from mailsink.pytest_plugin.local import LocalServer
    from mailsink.pytest_plugin.options import PluginOptions

    times: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for label, tls in (("start (TLS off)", "off"), ("start (TLS on, new certificate)", "on")):
            best = float("inf")
            for i in range(5):
                folder = Path(tmp) / f"{tls}{i}"
                started = time.perf_counter()
                server = LocalServer(PluginOptions(tls=tls), lambda f=folder: f, "")
                best = min(best, time.perf_counter() - started)
                server.stop()
            times[label] = best * 1000
    return times


def measure_fixture_work(count: int = 2000, rounds: int = 5) -> tuple[float, float]:
    """Return microseconds per test of storing one message, without and with the fixture.

    No SMTP and no pytest: the message is handed to the ingestor directly, so the
    difference is the fixture's own work (capture, wait, match, close).
    """
    from mailsink.message import Envelope
    from mailsink.pytest_plugin.fixture import MailSink
    from mailsink.pytest_plugin.local import LocalServer
    from mailsink.pytest_plugin.options import PluginOptions

    server = LocalServer(PluginOptions(tls="off"), Path, "")
    envelope = Envelope("app@example.test", ("u@example.test",))

    def raw(n: int) -> bytes:
        return f"From: app@example.test\r\nSubject: n{n}\r\n\r\nhi\r\n".encode()

    def bare() -> None:
        for n in range(count):
            server.sink.ingestor.ingest(raw(n), envelope)

    def with_fixture() -> None:
        for n in range(count):
            sink = MailSink(server, server.capture(), 10.0)
            server.sink.ingestor.ingest(raw(n), envelope)
            sink.assert_sent(subject=f"n{n}")
            sink.close()

    best = [float("inf"), float("inf")]
    try:
        for _ in range(rounds):
            for i, run in enumerate((bare, with_fixture)):
                started = time.perf_counter()
                run()
                best[i] = min(best[i], (time.perf_counter() - started) / count * 1e6)
    finally:
        server.stop()
    return best[0], best[1]


def main(argv: list[str] | None = None) -> int:
    """Run every suite and print the wall times and the fixture's overhead per test."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tests", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--suites", default="empty,locmem,aiosmtpd,sink,mailsink")
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.suites.split(",") if n.strip()]
    small = max(1, args.tests // 5)
    with tempfile.TemporaryDirectory() as tmp:
        folders = {}
        for size in (args.tests, small):
            for name in names:
                folders[name, size] = make_suite(Path(tmp) / str(size), name, size)
        best = {key: float("inf") for key in folders}
        for _ in range(args.rounds):
            for name in names:
                for size in (args.tests, small):
                    key = (name, size)
                    best[key] = min(best[key], run_suite(folders[key], size))
    print(f"{args.tests} and {small} tests, each sending one message; best of {args.rounds} rounds")
    slope = {n: (best[n, args.tests] - best[n, small]) / (args.tests - small) * 1000 for n in names}
    once = {n: best[n, args.tests] - slope[n] * args.tests / 1000 for n in names}
    for name in names:
        print(
            f"  {name:<9} {best[name, args.tests]:7.2f} s wall   {slope[name]:6.3f} ms/test"
            f"   {once[name]:5.2f} s once per session"
        )
    for other in ("aiosmtpd", "sink"):
        if "mailsink" in slope and other in slope:
            extra = slope["mailsink"] - slope[other]
            start = once["mailsink"] - once[other]
            print(f"  fixture vs {other}: {extra:+.3f} ms/test, {start:+.2f} s once per session")
    bare, fixture = measure_fixture_work()
    print(
        f"  in-process, no SMTP: store one message {bare:.0f} us; with the fixture's "
        f"capture + assert_sent + close {fixture:.0f} us (+{fixture - bare:.0f} us)"
    )
    for label, ms in measure_startup().items():
        print(f"  sink {label}: {ms:.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
