"""The web app's dependencies in one typed object, and the one way to reach them.

``create_app`` builds an :class:`AppState` from what it is given (the mailbox,
the ingestor, the settings, where the SMTP listener is) and keeps it in
``app.extensions["mailsink"]``; request code calls :func:`app_state` and gets
it typed, instead of looking up keys.  Tests change the few knobs meant for
them (``sse_keepalive``) on the same object.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, cast

from flask import Flask, current_app

from mailsink.chaos import Chaos
from mailsink.config import Settings, connect_host
from mailsink.faults import Faults
from mailsink.ingest import Ingestor
from mailsink.mailbox import Mailbox
from mailsink.relay.relayer import Relayer
from mailsink.stats import Stats

if TYPE_CHECKING:
    from mailsink.web.websocket import WebSocketHub

EXTENSION_KEY = "mailsink"
KEEPALIVE_SECONDS = 15.0


class LongRequests:
    """Count the requests that hold a worker thread for long (SSE, waits) and cap them."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.open = 0
        self._lock = threading.Lock()

    def acquire(self) -> bool:
        """Take a place, or return False when every place is taken."""
        with self._lock:
            if self.open >= self.limit:
                return False
            self.open += 1
            return True

    def release(self) -> None:
        """Give a place back."""
        with self._lock:
            self.open -= 1


@dataclass
class AppState:
    """Everything the web layer uses, given to ``create_app``; one per app."""

    mailbox: Mailbox
    ingestor: Ingestor
    settings: Settings
    smtp_address: tuple[str, int]
    """Where the SMTP listener is bound (may be a wildcard address)."""
    long_requests: LongRequests
    websockets: WebSocketHub
    """The WebSocket feed at ``/api/events``; whoever serves the app starts and stops it."""
    faults: Faults = field(default_factory=Faults)
    """The SMTP listener's fault rules (the ``/api/v1/faults`` API changes them)."""
    chaos: Chaos = field(default_factory=Chaos)
    """Mailpit's chaos triggers; ``chaos.enabled`` gates both misbehaviour APIs."""
    relayer: Relayer | None = None
    """Release and auto-relay to the configured upstream; None without ``--relay``."""
    started: float = field(default_factory=time.time)
    sse_keepalive: float = KEEPALIVE_SECONDS
    """Seconds between ``: keepalive`` comments on the event stream."""

    @property
    def stats(self) -> Stats:
        """Return the sink's counters (kept by the ingestor, the one write path)."""
        return self.ingestor.stats

    @property
    def smtp_connect_address(self) -> tuple[str, int]:
        """Return the host and port an application should send to (loopback for a wildcard)."""
        host, port = self.smtp_address
        return connect_host(host), port


def app_state(app: Flask | None = None) -> AppState:
    """Return the state of ``app`` (default: the app handling the current request)."""
    target = app if app is not None else current_app
    return cast(AppState, target.extensions[EXTENSION_KEY])
