"""The SMTP listener: a catch-all aiosmtpd server on its own event loop thread.

aiosmtpd's ``Controller`` is not used because its start-up self-check
connects to the configured port, which fails for port 0
(aio-libs/aiosmtpd#276).  :class:`SMTPListener` creates the servers on a
loop it runs in a thread, so port 0 works and the real port is known.

Policies a client can rely on (documented in README):

* Any sender (also ``<>``), any recipient, any domain; at most
  ``max_recipients`` recipients (452 beyond).
* Addresses containing control characters (CR, LF, NUL, ...) are refused with
  501, so they can never be injected into a header or a log line; 8-bit
  addresses need SMTPUTF8 and valid UTF-8, and addresses longer than RFC
  5321's limits are refused, all at the command (``envelope_policy.py``).
* Lines longer than 1000 octets are accepted (any length within the size
  limit) and the message is flagged (``long_lines``): a development sink should show what an
  app sent rather than bounce it.
* DATA is answered ``250 2.0.0 Ok: queued as <ID>`` only after the message is
  in the store (committed, for the SQLite store).
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import threading
from collections.abc import Callable
from typing import Any, cast

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session, TLSSetupException

from mailsink.chaos import Chaos
from mailsink.config import Settings
from mailsink.connections import ConnectionLimits, RateLimitedLog, quiet_accept_errors
from mailsink.envelope_policy import check_address, check_helo, has_control_chars
from mailsink.faults import Faults
from mailsink.ingest import Ingestor
from mailsink.loop_thread import new_loop, run_until_stopped, stop_loop_thread
from mailsink.message import Envelope as MessageEnvelope
from mailsink.smtp_setup import LeanSMTP
from mailsink.stats import Stats
from mailsink.store.base import is_disk_full

log = logging.getLogger(__name__)


class _DropLoginDataWarning(logging.Filter):
    """Hide aiosmtpd's own deprecation notice, logged on every successful AUTH."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "login_data is deprecated" not in record.getMessage()


logging.getLogger("mail.log").addFilter(_DropLoginDataWarning())

LINE_LIMIT = 1024 * 1024
"""The stream buffer: how much DATA is scanned at once, and how much of an
overlong command line is buffered before it gets 500."""


__all__ = ["CatchAllHandler", "SMTPListener", "SinkSMTP", "has_control_chars"]


class SinkSMTP(LeanSMTP):
    """aiosmtpd's SMTP set up once per class, reading DATA in bulk, long lines accepted,
    connections capped and counted."""

    line_length_limit = LINE_LIMIT
    limits: ConnectionLimits | None = None
    """The listener's caps; set on each protocol object by its factory."""
    _counted: str | None = None
    _refused = False
    _in_stats = False
    """Whether this session is counted open (STARTTLS calls connection_made a second time)."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Answer 421 and close past the connection caps; else count it and serve as aiosmtpd."""
        if self.limits is not None and self._counted is None and not self._refused:
            peer = transport.get_extra_info("peername")
            host = str(peer[0]) if isinstance(peer, tuple) and peer else str(peer)
            refusal = self.limits.admit(host)
            if refusal is not None:
                self._refused = True
                # uvloop's transports write but are not asyncio.WriteTransport subclasses.
                transport = cast(asyncio.WriteTransport, transport)
                transport.write(f"421 4.7.0 {self.hostname} {refusal}, try later\r\n".encode())
                transport.close()
                return
            self._counted = host
        if not self._in_stats:
            self._in_stats = True
            self._stats().session_opened()
        super().connection_made(transport)

    def eof_received(self) -> bool | None:
        """Ignore the end of a refused connection; else as aiosmtpd."""
        if self._refused:
            return False
        return super().eof_received()

    def connection_lost(self, error: Exception | None) -> None:
        """Give the connection's place back (a refused one never took one); count its end."""
        if self._refused:
            return
        if self.limits is not None and self._counted is not None:
            self.limits.release(self._counted)
            self._counted = None
        if self._in_stats:  # and whether it was encrypted
            self._in_stats = False
            self._stats().session_closed(self.session is not None and _uses_tls(self, self.session))
        super().connection_lost(error)

    def _stats(self) -> Stats:
        """Return the counters of the handler this session serves."""
        handler = self.event_handler
        return handler.ingestor.stats if isinstance(handler, CatchAllHandler) else _NO_STATS

    async def _handle_client(self) -> None:
        """Apply the ``connect`` fault rules (refuse, delay or drop the greeting), then serve."""
        faults: Faults | None = getattr(self.event_handler, "faults", None)
        if faults is not None and faults.active:
            reply = await faults.apply("connect", self)
            transport = self.transport
            if transport is None or transport.is_closing():
                return  # dropped
            if reply is not None:
                await self.push(reply)
                transport.close()
                return
        await super()._handle_client()

    async def push(self, status: str | bytes) -> None:
        """Send a reply; log each refusal (4xx/5xx) in one line; count size refusals.

        The reply, not the command, is logged: an AUTH line carries secrets.  The
        size refusals counted here are the ones aiosmtpd makes itself (MAIL SIZE=, DATA).
        """
        if status[:3] in ("552", b"552"):
            self._stats().record_rejected("size")
        if isinstance(status, bytes):
            await super().push(status)
            text = status.decode("utf-8", "replace")
        else:
            await super().push(status)
            text = status
        if text[:1] in ("4", "5"):
            log.info(
                "refused %s: %s",
                _peer_text(self.session.peer if self.session else None),
                text[:200],
            )

    async def handle_exception(self, error: Exception) -> str:
        """Log what a client did wrong in one line; keep tracebacks for our own faults.

        aiosmtpd logs every session exception with its traceback, 20 lines for
        a client that merely refused our certificate.
        """
        peer = _peer_text(self.session.peer if self.session else None)
        if isinstance(error, TLSSetupException):
            reason = error.__cause__ or error
            log.warning("TLS handshake with %s failed: %s", peer, reason)
        elif isinstance(error, ConnectionError):
            log.info("connection from %s lost: %s", peer, error)
        else:
            log.exception("SMTP session with %s failed", peer)
        return f"500 Error: ({type(error).__name__}) {error}"


class CatchAllHandler:
    """The aiosmtpd handler: validate the envelope, hand the message to ingest, reply."""

    def __init__(
        self,
        ingestor: Ingestor,
        settings: Settings,
        faults: Faults | None = None,
        chaos: Chaos | None = None,
    ) -> None:
        self.ingestor = ingestor
        self.settings = settings
        self._store_failures = RateLimitedLog(log)
        """A database outage fails every message: one line (with its traceback) per 10 s."""
        self.faults = faults or Faults()
        """Misbehaviour rules set by tests (the fixture, the HTTP API); empty by default."""
        self.chaos = chaos or Chaos()
        """Mailpit's random failures (``--enable-chaos``); off by default."""

    def __dir__(self) -> list[str]:
        """Return only the hook names aiosmtpd looks for (``smtp_setup.py`` reads them once)."""
        return _HANDLER_NAMES

    async def handle_EHLO(  # noqa: N802 - aiosmtpd's hook name
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        hostname: str,
        responses: list[str],
    ) -> list[str]:
        """Advertise PIPELINING, which aiosmtpd supports but does not announce."""
        if refused := check_helo(hostname, extended=True):
            return [refused]
        session.host_name = hostname
        return [*responses[:-1], "250-PIPELINING", responses[-1]]

    async def handle_HELO(  # noqa: N802 - aiosmtpd's hook name
        self, server: SMTP, session: Session, envelope: Envelope, hostname: str
    ) -> str:
        """Accept an ASCII HELO name (no extensions, so no SMTPUTF8)."""
        if refused := check_helo(hostname, extended=False):
            return refused
        session.host_name = hostname
        return f"250 {server.hostname}"

    async def handle_MAIL(  # noqa: N802
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        mail_options: list[str],
    ) -> str:
        """Accept any sender, the null sender too, within the envelope policy."""
        if refused := check_address(address, envelope.smtp_utf8, "sender"):
            return self._refuse("syntax", refused)
        if self.settings.require_auth and not session.authenticated:
            return self._refuse("auth", "530 5.7.0 Authentication required")
        if chaos := self.chaos.fire("Sender"):
            return self._refuse("fault", chaos)
        if fault := await self.faults.apply("mail", server, address):
            return self._refuse("fault", fault)
        envelope.mail_from = address  # "<>" for the null sender; stored as ""
        envelope.mail_options.extend(mail_options)
        return "250 2.1.0 OK"

    async def handle_RCPT(  # noqa: N802
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        """Accept any recipient up to the cap, within the envelope policy."""
        if refused := check_address(address, envelope.smtp_utf8, "recipient"):
            return self._refuse("syntax", refused)
        if len(envelope.rcpt_tos) >= self.settings.max_recipients:
            return self._refuse("recipients", "452 4.5.3 Too many recipients")
        if chaos := self.chaos.fire("Recipient"):
            return self._refuse("fault", chaos)
        if fault := await self.faults.apply("rcpt", server, address, envelope.rcpt_tos):
            return self._refuse("fault", fault)
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 2.1.5 OK"

    async def handle_DATA(  # noqa: N802
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        """Store the exact bytes received, then answer 250 with the new ID."""
        if fault := await self.faults.apply("data", server, None, envelope.rcpt_tos):
            return self._refuse("fault", fault)
        raw = envelope.original_content or b""
        record = MessageEnvelope(
            mail_from="" if envelope.mail_from in (None, "<>") else envelope.mail_from,
            rcpt_tos=tuple(envelope.rcpt_tos),
            helo=session.host_name or "",
            peer=_peer_text(session.peer),
            tls=_uses_tls(server, session),
            auth_user=session.auth_data if isinstance(session.auth_data, str) else None,
        )
        try:
            message_id = await self.ingestor.receive(raw, record)
        except Exception as error:  # noqa: BLE001 - any store failure is a 4xx, logged below
            if is_disk_full(error):
                self._store_failures.log(
                    logging.ERROR, "storing a message failed, the disk is full: %s", error
                )
                return "452 4.3.1 Insufficient storage: the disk is full, try again later"
            self._store_failures.log(logging.ERROR, "storing a message failed", exc_info=True)
            return self._refuse(
                "storage", "451 4.3.0 Error: the message could not be stored, try again"
            )
        return f"250 2.0.0 Ok: queued as {message_id}"

    def _refuse(self, reason: str, reply: str) -> str:
        """Count a refusal by its reason and return its reply (a fault's 2xx is not one)."""
        if not reply.startswith("2"):
            self.ingestor.stats.record_rejected(reason)
        return reply


_NO_STATS = Stats()
"""Counters for sessions of a handler that is not ours (never read)."""

_HANDLER_NAMES = sorted(n for n in dir(CatchAllHandler) if n.startswith(("handle_", "auth_")))


def _peer_text(peer: Any) -> str:
    """Return the client address as ``host:port`` (``[v6]:port`` for IPv6)."""
    if isinstance(peer, tuple) and len(peer) >= 2:
        host, port = peer[0], peer[1]
        return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"
    return str(peer or "")


def _uses_tls(server: SMTP, session: Session) -> bool:
    """Tell whether this session is encrypted, by STARTTLS or implicit TLS."""
    if session.ssl is not None:
        return True
    transport = server.transport
    return transport is not None and transport.get_extra_info("ssl_object") is not None


class Authenticator:
    """Accept any credentials, or only the configured (user, password) pairs."""

    def __init__(self, users: tuple[tuple[str, str], ...], chaos: Chaos | None = None) -> None:
        self.users = dict(users)
        self.chaos = chaos

    def __call__(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        """Check one AUTH attempt; the username is kept with the session."""
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        if self.chaos is not None and (chaos := self.chaos.fire("Authentication")):
            return AuthResult(success=False, handled=False, message=chaos)
        user = auth_data.login.decode("utf-8", "replace")
        password = auth_data.password.decode("utf-8", "replace")
        if self.users and self.users.get(user) != password:
            return AuthResult(success=False, handled=False)
        return AuthResult(success=True, auth_data=user)


class SMTPListener:
    """Run the SMTP (and optional SMTPS) servers on an event loop in a thread."""

    def __init__(
        self,
        handler: CatchAllHandler,
        settings: Settings,
        tls_context: ssl.SSLContext | None = None,
    ) -> None:
        self.handler = handler
        self.settings = settings
        self.tls_context = tls_context
        self.loop = new_loop(fast=settings.uvloop)
        self._thread = threading.Thread(
            target=run_until_stopped, args=(self.loop,), name="mailsink-smtp", daemon=True
        )
        self._servers: list[asyncio.Server] = []
        log_refusals = RateLimitedLog(log)
        self.limits = ConnectionLimits(
            settings.max_connections, settings.max_connections_per_peer, log_refusals
        )
        """Shared by the SMTP and SMTPS sockets; used on the loop thread only."""
        quiet_accept_errors()
        self.address: tuple[str, int] = ("", 0)
        self.smtps_address: tuple[str, int] | None = None

    def _factory(self, implicit_tls: bool) -> Callable[[], SMTP]:
        """Return a protocol factory for one listening socket."""
        settings = self.settings
        starttls = None if implicit_tls or not settings.tls else self.tls_context

        def make() -> SMTP:
            protocol = SinkSMTP(
                self.handler,
                data_size_limit=settings.max_size,
                enable_SMTPUTF8=True,
                hostname=settings.hostname,
                ident="mailsink ESMTP",
                tls_context=starttls,
                require_starttls=settings.require_tls and not implicit_tls,
                timeout=settings.idle_timeout,
                auth_require_tls=False,
                authenticator=Authenticator(settings.auth_users, self.handler.chaos),
                loop=self.loop,
            )
            protocol.limits = self.limits
            return protocol

        return make

    def start(self) -> None:
        """Bind the sockets and start serving; raises if a port cannot be bound."""
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(self._start_servers(), self.loop)
        try:
            future.result(timeout=30)
        except BaseException:
            self.stop()
            raise

    async def _start_servers(self) -> None:
        """Create the listening servers on the loop thread."""
        s = self.settings
        server = await self.loop.create_server(self._factory(False), s.smtp_host, s.smtp_port)
        self._servers.append(server)
        self.address = _bound(server)
        if s.smtps_port is not None:
            if self.tls_context is None:
                raise ValueError("SMTPS needs a TLS context")
            smtps = await self.loop.create_server(
                self._factory(True), s.smtps_host, s.smtps_port, ssl=self.tls_context
            )
            self._servers.append(smtps)
            self.smtps_address = _bound(smtps)

    def stop(self) -> None:
        """Close the servers and their sessions, and stop the loop thread."""
        if not self._thread.is_alive():
            return

        async def shutdown() -> None:
            for server in self._servers:
                server.close()
                close_clients = getattr(server, "close_clients", None)  # Python 3.13+
                if close_clients is not None:
                    close_clients()

        stop_loop_thread(self.loop, self._thread, shutdown, "SMTP servers")


def _bound(server: asyncio.Server) -> tuple[str, int]:
    """Return the (host, port) a server is listening on."""
    sockname = server.sockets[0].getsockname()
    return str(sockname[0]), int(sockname[1])
