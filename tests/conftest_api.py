"""Fixtures for the JSON API tests: an app over a real mailbox, and real servers.

Test modules load this with ``pytest_plugins = ["conftest_api"]``; the
classes and functions they use come from ``api_helpers.py``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from api_helpers import Api, Served, make_api
from waitress.server import create_server

from mailsink.config import Settings
from mailsink.server import Sink
from mailsink.store import MemoryStore, MessageStore, SQLiteStore
from mailsink.web.state import app_state


@pytest.fixture
def api() -> Iterator[Api]:
    """Yield an Api over a memory store."""
    made = make_api(MemoryStore())
    yield made
    made.close()


@pytest.fixture(params=["memory", "sqlite"])
def api_any(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Api]:
    """Yield an Api over each kind of store."""
    store: MessageStore = (
        MemoryStore() if request.param == "memory" else SQLiteStore(tmp_path / "api.db").start()
    )
    made = make_api(store)
    yield made
    made.close()


@pytest.fixture
def served(api: Api) -> Iterator[Served]:
    """Serve the ``api`` app with waitress on 127.0.0.1 port 0, with a 0.2 s SSE keepalive."""
    app_state(api.app).sse_keepalive = 0.2
    server = create_server(api.app, host="127.0.0.1", port=0, threads=8)
    closing = threading.Event()

    def run() -> None:
        try:
            server.run()
        except (OSError, ValueError):  # the loop's sockets closed under it by close()
            if not closing.is_set():
                raise

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    yield Served(api, "127.0.0.1", int(server.effective_port))
    limiter = app_state(api.app).long_requests
    deadline = time.monotonic() + 5
    while limiter.open and time.monotonic() < deadline:  # let streams notice their client left
        time.sleep(0.05)
    closing.set()
    server.close()
    thread.join(5)


@pytest.fixture
def live_sink(tmp_path: Path) -> Iterator[Sink]:
    """Yield a whole running sink (SMTP + HTTP on free ports) over a SQLite store."""
    sink = Sink(
        Settings(smtp_port=0, http_port=0, tls=False, store=str(tmp_path / "sink.db"))
    ).start()
    yield sink
    sink.stop()
