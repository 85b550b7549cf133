"""In-process mode: one Sink per test process, and a per-test capture fed by its events.

The session starts one :class:`~mailsink.server.Sink` on free ports (each
pytest-xdist worker is its own process, so its own sink).  Each test opens a
:class:`LocalCapture`: a subscription to the mailbox's events taken when the
test starts, so the test sees exactly the messages stored after that moment,
and waits block on the subscription's queue instead of polling.  Nothing is
deleted between tests; the web UI of a session shows all of its mail.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from mailsink.config import Settings, connect_host, is_memory_store
from mailsink.events import Event
from mailsink.faults import Faults
from mailsink.pytest_plugin.message import Message
from mailsink.server import Sink

if TYPE_CHECKING:
    from mailsink.pytest_plugin.options import PluginOptions
    from mailsink.store.base import StoredMessage


def store_for_worker(store: str, worker: str) -> str:
    """Return the store spec for one xdist worker: a SQLite file of its own."""
    if is_memory_store(store) or not worker:
        return store
    path = Path(store)
    return str(path.with_name(f"{path.stem}-{worker}{path.suffix}"))


class LocalServer:
    """The session's in-process sink; the web server starts on first use of ``url``."""

    def __init__(self, options: PluginOptions, tls_dir: Callable[[], Path], worker: str) -> None:
        self.options = options
        tls = options.tls != "off"
        self.settings = Settings(
            smtp_host=options.bind,
            smtp_port=0,
            http_host=options.bind,
            http_port=None,
            store=store_for_worker(options.store, worker),
            tls=tls,
            require_tls=options.tls == "require",
            tls_cert=options.tls_cert or None,
            tls_key=options.tls_key or None,
            tls_dir=str(tls_dir()) if tls and not options.tls_cert else None,
            auth_users=options.auth_users,
            require_auth=options.require_auth,
            dns_records=options.dns_records or None,
            dns=options.dns,
        )
        self.sink = Sink(self.settings).start()
        self._web_lock = threading.Lock()

    @property
    def host(self) -> str:
        """Return the address apps connect to (loopback when bound to every interface)."""
        return connect_host(self.sink.smtp_address[0])

    @property
    def port(self) -> int:
        """Return the SMTP port."""
        return self.sink.smtp_address[1]

    @property
    def ca_path(self) -> Path | None:
        """Return the certificate an app must trust for STARTTLS, or None without TLS."""
        return self.sink.certificate.cert if self.sink.certificate else None

    @property
    def faults(self) -> Faults:
        """Return the listener's misbehaviour rules."""
        return self.sink.faults

    def fault_rules(self, token: str) -> Faults:
        """Return the listener's rules: one test at a time runs in this process."""
        return self.sink.faults

    @property
    def url(self) -> str:
        """Return the web UI's URL, starting the web server on first use (~100 ms)."""
        with self._web_lock:
            # Started only now: a session that never looks at the UI never imports Flask.
            return self.sink.start_web()

    def capture(self) -> LocalCapture:
        """Start capturing for one test."""
        return LocalCapture(self)

    def stop(self) -> None:
        """Stop the sink."""
        self.sink.stop()


class LocalCapture:
    """The messages stored since one test started, kept current from the event queue."""

    def __init__(self, server: LocalServer) -> None:
        self.server = server
        self.started = time.time()
        self._sub = server.sink.mailbox.events.subscribe()
        self._messages: dict[str, Message] = {}
        self._hidden: set[str] = set()

    def _message(self, stored: StoredMessage) -> Message:
        store = self.server.sink.store
        return Message(
            stored.id,
            stored.received,
            stored.envelope,
            stored.summary,
            lambda: store.raw(stored.id) or b"",
            url=self._message_url(stored.id),
            checks=self.server.settings,
        )

    def _message_url(self, message_id: str) -> str | None:
        web = self.server.sink.web_url
        return f"{web}/message/{message_id}" if web else None

    def _apply(self, event: Event) -> None:
        if event.kind == "new":
            self._messages[event.message.id] = self._message(event.message)
        elif event.kind == "delete":
            for message_id in event.changed.ids:
                self._messages.pop(message_id, None)
        elif event.kind == "truncate":
            self._messages.clear()

    def _drain(self) -> None:
        """Apply every queued event; resynchronise from the store after an overflow."""
        while (event := self._sub.get(0)) is not None:
            self._apply(event)
        if self._sub.overflowed:
            self._sub.overflowed = False
            store = self.server.sink.store
            found = [m for m in (store.get(i) for i in store.ids()) if m is not None]
            self._messages = {
                m.id: self._message(m)
                for m in sorted(found, key=lambda m: m.received)
                if m.received >= self.started
            }

    def messages(self) -> list[Message]:
        """Return this test's messages so far, oldest first."""
        self._drain()
        return [m for i, m in self._messages.items() if i not in self._hidden]

    def wait(self, done: Callable[[list[Message]], bool], timeout: float) -> list[Message]:
        """Block until ``done(messages)`` is true or ``timeout`` passes; return the messages."""
        deadline = time.monotonic() + timeout
        current = self.messages()
        while not done(current):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            event = self._sub.get(remaining)
            if event is not None:
                self._apply(event)
            current = self.messages()
        return current

    def clear(self) -> None:
        """Forget this test's messages so far (they stay in the sink)."""
        self._hidden.update(m.id for m in self.messages())

    def hint(self, messages: list[Message]) -> str:
        """Return nothing: in-process every message of the test's time window counts."""
        return ""

    def close(self) -> None:
        """Stop receiving events."""
        self._sub.close()
