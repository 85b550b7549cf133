"""A running sink: store, ingestor, SMTP listener, web server and helpers wired together.

:class:`Sink` is what the command line runs and what the pytest plugin starts
in-process.  Building one opens the store and creates its parts but starts no
thread and binds no socket; ``start()`` starts them all and returns once every
socket is bound, so the real ports (port 0 picks a free one) are known at
once; ``stop()`` stops them in the reverse order.  The helpers are the
message log and the age-based pruning (``activity.py``) and, with
``--ui-tls``, the HTTPS front before waitress (``https.py``).  ``Sink.app`` is the Flask
application over the same mailbox and ingestor, for tests and embedding.
"""

from __future__ import annotations

import dataclasses
import logging
import shutil
import ssl
import tempfile
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

from mailsink.activity import MessageLog, Retention
from mailsink.chaos import Chaos
from mailsink.config import Settings, connect_host
from mailsink.connections import ConnectionLimits, RateLimitedLog, effective_cap, limit_waitress
from mailsink.faults import Faults
from mailsink.https import TLSFront, web_server_context
from mailsink.ingest import Ingestor, inline_limit, writer_count
from mailsink.mailbox import Mailbox
from mailsink.readers import Credentials, ReaderContext
from mailsink.relay.relayer import Relayer
from mailsink.retrieval import Endpoint, ReaderListener
from mailsink.smtp import CatchAllHandler, SMTPListener
from mailsink.stats import Stats
from mailsink.store import open_store
from mailsink.tls import CertificateFiles, generate_certificate, server_context
from mailsink.webhook import Webhook

if TYPE_CHECKING:
    from types import TracebackType

    from flask import Flask
    from waitress.server import BaseWSGIServer

    from mailsink.store.base import MessageStore

log = logging.getLogger(__name__)

HTTP_IDLE_TIMEOUT = 60
"""Seconds waitress keeps a connection with no request in progress (it was 120)."""


class Sink:
    """Own every part of one running mailsink; start it, use it, stop it."""

    def __init__(self, settings: Settings | None = None, store: MessageStore | None = None) -> None:
        """Open the store (``settings.store``, or use ``store``, which must be started already).

        The sink closes the store when it stops, whichever way it came.
        """
        self.settings = settings or Settings()
        self.store = store or open_store(
            self.settings.store, self.settings.max_messages, self.settings.store_sync
        )
        self.mailbox = Mailbox(self.store)
        self.stats = Stats()
        """Counters for ``RuntimeStats`` and ``/metrics``; counts deletions once started."""
        self.ingestor = Ingestor(
            self.mailbox,
            inline_limit(self.store, self.settings.store_sync),
            self.stats,
            writers=writer_count(self.store),
        )
        self.webhook: Webhook | None = None
        if self.settings.webhook_url:
            from mailsink.web.serialize import summary_json

            self.webhook = Webhook(
                self.settings.webhook_url, summary_json, self.settings.webhook_limit
            )
        self.faults = Faults()
        """The SMTP listener's fault rules (the pytest fixture and ``/api/v1/faults``)."""
        self.chaos = Chaos(self.settings.enable_chaos)
        relay = self.settings.relay
        self.relayer = (
            Relayer(self.mailbox, relay, self.settings.hostname) if relay is not None else None
        )
        self.certificate: CertificateFiles | None = None
        self.tls_context: ssl.SSLContext | None = None
        self.listener: SMTPListener | None = None
        self._app: Flask | None = None
        self.readers: ReaderListener | None = None
        """The POP3/IMAP listeners, when any is switched on."""
        self._http: BaseWSGIServer | None = None
        self._http_thread: threading.Thread | None = None
        self.http_address: tuple[str, int] | None = None
        self._temporary_tls_dir: Path | None = None
        self.message_log = MessageLog(self.mailbox)
        self.retention = (
            Retention(self.mailbox, self.settings.max_age) if self.settings.max_age else None
        )
        self._https: TLSFront | None = None
        self._https_dir: Path | None = None

    @property
    def smtp_address(self) -> tuple[str, int]:
        """Return the (host, port) the SMTP listener is bound to."""
        assert self.listener is not None, "start() the sink first"
        return self.listener.address

    @property
    def web_url(self) -> str | None:
        """Return the web UI's base URL, or None without a web server."""
        if self.http_address is None:
            return None
        host, port = self.http_address
        host = connect_host(host)
        scheme = "https" if self.settings.web_tls else "http"
        netloc = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        return f"{scheme}://{netloc}{self.settings.web_prefix}"

    def start(self) -> Sink:
        """Bind every socket and start serving; return self."""
        s = self.settings
        try:
            self.ingestor.start()
            self.stats.start(self.mailbox.events)
            if self.webhook is not None:
                self.webhook.start(self.mailbox.events)
            self.message_log.start()
            if self.retention is not None:
                self.retention.prune()
                self.retention.start()
            if self.relayer is not None:
                self.relayer.start()
            if s.tls_enabled or (s.web_tls and not s.ui_tls_cert):
                self._setup_tls()
            handler = CatchAllHandler(self.ingestor, s, self.faults, self.chaos)
            self.listener = SMTPListener(handler, s, self.tls_context)
            self.listener.start()
            self._start_readers()
            if s.http_port is not None:
                self._start_http()
        except BaseException:
            self.stop()
            raise
        return self

    def _start_readers(self) -> None:
        """Start the POP3 and IMAP listeners that are switched on (issue 16)."""
        s = self.settings
        endpoints = [
            Endpoint(name, host, port, implicit_tls=name.endswith("s"))
            for name, host, port in s.reader_endpoints()
        ]
        if not endpoints:
            return
        context = ReaderContext(
            self.mailbox,
            Credentials(s.auth_users),
            self.tls_context if s.tls else None,  # STARTTLS/STLS offered as for SMTP
            s.hostname,
            s.reader_idle_timeout,
        )
        self.readers = ReaderListener(context, endpoints, s.reader_connections, self.tls_context)
        self.readers.start()

    def reader_address(self, name: str) -> tuple[str, int]:
        """Return the (host, port) of the ``pop3``, ``pop3s``, ``imap`` or ``imaps`` listener."""
        assert self.readers is not None, f"{name} is not switched on"
        return self.readers.addresses[name]

    def _setup_tls(self) -> None:
        """Load the given certificate or generate one."""
        s = self.settings
        if s.tls_cert:
            self.certificate = CertificateFiles(
                cert=Path(s.tls_cert),
                key=Path(s.tls_key or s.tls_cert),
            )
        else:
            self.certificate = generate_certificate(s.tls_dir, s.hostname)
            if s.tls_dir is None:  # a temporary folder of our own: removed on stop
                self._temporary_tls_dir = self.certificate.cert.parent
        self.tls_context = server_context(self.certificate)

    @property
    def app(self) -> Flask:
        """Return the web application over this sink's mailbox (built on first use).

        The same app the web server serves; tests use its ``test_client()``.
        """
        if self._app is None:
            from mailsink.web import create_app

            smtp = self.listener.address if self.listener is not None else None
            self._app = create_app(
                self.mailbox,
                self.settings,
                ingestor=self.ingestor,
                smtp_address=smtp,
                faults=self.faults,
                chaos=self.chaos,
                relayer=self.relayer,
            )
        return self._app

    def start_web(self, host: str | None = None, port: int = 0) -> str:
        """Start the web server now, if it is not running; return its URL.

        For sinks started without one (``http_port=None``), such as the pytest
        fixture's, which starts it only when a test asks for the web URL.
        """
        if self._http is None:
            before = self.settings.http_host
            self.settings = dataclasses.replace(
                self.settings, http_host=host or self.settings.http_host, http_port=port
            )
            if self.settings.http_host != before:
                self._app = None  # its Host check was built for the other address
            self._start_http()
        assert self.web_url is not None
        return self.web_url

    def _start_http(self) -> None:
        """Serve the web app with waitress on a thread."""
        from waitress.server import create_server

        from mailsink.web.state import app_state
        from mailsink.web.websocket import channel_class

        s = self.settings
        hub = app_state(self.app).websockets.start()
        limits = ConnectionLimits(
            s.max_connections, s.max_connections_per_peer, RateLimitedLog(log)
        )
        common = {
            "threads": s.http_threads,
            "ident": "mailsink",
            "max_request_body_size": s.max_request_bytes,
            "clear_untrusted_proxy_headers": True,
            "connection_limit": effective_cap(s.max_connections),
            "channel_timeout": HTTP_IDLE_TIMEOUT,
            "cleanup_interval": HTTP_IDLE_TIMEOUT // 4,
        }
        if not s.web_tls:
            server = create_server(self.app, host=s.http_host, port=s.http_port, **common)
            limit_waitress(server, limits)
            self._http = server
            self.http_address = (str(server.effective_host), int(server.effective_port))
        else:
            # waitress on a Unix socket in a private folder; the TLS front owns the port.
            self._https_dir = Path(tempfile.mkdtemp(prefix="mailsink-https-"))
            backend = str(self._https_dir / "web.sock")
            server = create_server(
                self.app, unix_socket=backend, unix_socket_perms="600", url_scheme="https", **common
            )
            # Behind the front every peer is the front itself: per-peer limits would
            # throttle everyone at once, so only the total cap applies here.
            self._http = server
            if s.ui_tls_cert:
                context = web_server_context(s.ui_tls_cert, s.ui_tls_key)
            else:
                assert self.certificate is not None
                context = web_server_context(str(self.certificate.cert), str(self.certificate.key))
            front = TLSFront(s.http_host, s.http_port or 0, context, backend)
            front.start()
            self._https = front
            self.http_address = front.address
        # Hand /api/events upgrades to the hub, on top of the server's channel class.
        server.channel_class = channel_class(hub, server.channel_class)
        self._http_thread = threading.Thread(target=server.run, name="mailsink-http", daemon=True)
        self._http_thread.start()

    def stop(self) -> None:
        """Stop listening, finish storing what was accepted, close the store."""
        if self.readers is not None:
            self.readers.stop()
            self.readers = None
        if self.listener is not None:
            self.listener.stop()
        if self._http is not None:
            self._end_long_requests()
            if self._https is not None:
                self._https.stop()
                self._https = None
            self._stop_http()
            self._http = None
        self._stop_side_effects()
        if self._https_dir is not None:
            shutil.rmtree(self._https_dir, ignore_errors=True)
            self._https_dir = None
        self.ingestor.close()
        self.stats.stop()  # after the ingestor: it counts what was still being stored
        if self.relayer is not None:
            self.relayer.stop()
        if self.retention is not None:
            self.retention.stop()
        self.message_log.stop()
        self.store.close()
        if self._temporary_tls_dir is not None:
            shutil.rmtree(self._temporary_tls_dir, ignore_errors=True)
            self._temporary_tls_dir = None

    def _stop_side_effects(self) -> None:
        """Stop the WebSocket feed and the webhook (they read events; nothing waits on them)."""
        if self._app is not None:
            from mailsink.web.state import app_state

            app_state(self._app).websockets.stop()
        if self.webhook is not None:
            self.webhook.stop()

    def _stop_http(self) -> None:
        """Close waitress's sockets from its own loop thread, then stop its workers.

        Closing them from this thread while its loop is in ``select()`` made
        the loop thread die of EBADF now and then; a thunk pulled through
        waitress's trigger runs in the loop, and an empty socket map ends it.
        """
        from waitress import trigger, wasyncore

        server = self._http
        assert server is not None
        thread = self._http_thread
        socket_map = getattr(server, "_map", None) or getattr(server, "map", {})
        triggers = [d for d in socket_map.values() if isinstance(d, trigger.trigger)]
        if triggers and thread is not None and thread.is_alive():
            triggers[0].pull_trigger(lambda: wasyncore.close_all(socket_map))
            thread.join(timeout=5)
        if thread is None or not thread.is_alive():
            server.task_dispatcher.shutdown()
        else:  # the loop did not end: close from here as before
            server.close()
            thread.join(timeout=5)

    def _end_long_requests(self, timeout: float = 2.0) -> None:
        """End open event streams and waits, and let their threads finish writing."""
        assert self._http is not None
        self.mailbox.events.close()
        dispatcher = self._http.task_dispatcher
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and (
            self.mailbox.events.subscriber_count or dispatcher.active_count
        ):
            time.sleep(0.01)

    def __enter__(self) -> Sink:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
