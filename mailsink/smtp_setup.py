"""aiosmtpd's SMTP session set up once per class rather than once per connection.

aiosmtpd 1.4.6 builds a session's tables in ``SMTP.__init__`` on every
connection: ``inspect.getmembers`` of the protocol object and of the handler
(for ``auth_*``), ``dir`` of both (for ``handle_*`` and ``smtp_*``) and
``inspect.signature`` of the EHLO hook - about 50 us of a 1 KB message's
0.5 ms of CPU with a connection per message (170 us with aiosmtpd's own
``dir``).  :class:`LeanSMTP` finds those names once per (protocol class,
handler class) and only binds them per connection, and sets the same
attributes as aiosmtpd for the arguments the listener passes; the tables are
looked up on the classes, so a handler's hooks are its class's methods.

It also keeps one idle timer per session instead of a new ``call_later`` per
command (aiosmtpd cancels and re-creates it for every command line, which
leaves a cancelled handle in the loop's heap each time): the timer notes the
time of the last command and, when it fires early, waits out the rest.

``tests/test_aiosmtpd_contract.py`` builds both sessions with the same
arguments and compares their attributes, so an aiosmtpd release that sets
something new fails there by name.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import ssl
from typing import Any

from aiosmtpd.smtp import SMTP, AuthenticatorType, _AuthMechAttr

from mailsink.smtp_protocol import FastSMTP

log = logging.getLogger("mail.log")
"""aiosmtpd's own logger: the line it logs per session is logged here the same way."""


class _Tables:
    """The names a session class and a handler offer aiosmtpd, found once per their classes."""

    def __init__(self, protocol: type[SMTP], handler: Any) -> None:
        self.smtp = [(n.replace("smtp_", ""), n) for n in dir(protocol) if n.startswith("smtp_")]
        self.hooks = [
            (n.replace("handle_", ""), n) for n in dir(handler) if n.startswith("handle_")
        ]
        self.auth: list[tuple[str, str, bool]] = []
        """(mechanism, attribute, is the protocol's own) in aiosmtpd's order: the handler wins."""
        for owner, is_builtin in ((protocol, True), (handler, False)):
            for name, func in inspect.getmembers(owner):
                if name.startswith("auth_"):
                    default = name.replace("auth_", "").replace("__", "-")
                    mechanism = getattr(func, "__auth_mechanism_name__", default)
                    self.auth.append((mechanism, name, is_builtin))
        ehlo = getattr(handler, "handle_EHLO", None)
        self.ehlo_version: str | None = None
        if ehlo is not None:
            self.ehlo_version = {4: "old", 5: "new"}.get(len(inspect.signature(ehlo).parameters))
            if self.ehlo_version is None:
                raise RuntimeError("Unsupported EHLO Hook")


_TABLES: dict[tuple[type, type], _Tables] = {}


class LeanSMTP(FastSMTP):
    """aiosmtpd's SMTP whose per-connection set-up is a few bindings (module docstring)."""

    _idle_since = 0.0
    """The loop time of the session's last command (or of its start)."""
    _idle_timer = False
    """Whether ``_timeout_handle`` is the idle timer (not aiosmtpd's PROXY one)."""

    def __init__(
        self,
        handler: Any,
        *,
        data_size_limit: int | None,
        enable_SMTPUTF8: bool,  # noqa: N803 - aiosmtpd's name
        hostname: str,
        ident: str,
        tls_context: ssl.SSLContext | None,
        require_starttls: bool,
        timeout: float,
        auth_require_tls: bool,
        authenticator: AuthenticatorType,
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        """Set what ``SMTP.__init__`` sets for these arguments (auth not required, no PROXY)."""
        key = (type(self), type(handler))
        tables = _TABLES.get(key)
        if tables is None:
            tables = _TABLES[key] = _Tables(type(self), handler)
        self.__ident__ = ident
        self.loop = loop
        asyncio.StreamReaderProtocol.__init__(
            self,
            asyncio.StreamReader(loop=loop, limit=self.line_length_limit),
            client_connected_cb=self._cb_client_connected,
            loop=loop,
        )
        self.event_handler = handler
        self.data_size_limit = data_size_limit
        self.enable_SMTPUTF8 = enable_SMTPUTF8
        self._decode_data = False
        self.command_size_limits.clear()
        self.hostname = hostname
        self.tls_context = tls_context
        if tls_context is not None and tls_context.verify_mode not in {
            ssl.CERT_NONE,
            ssl.CERT_OPTIONAL,
        }:
            log.warning("tls_context.verify_mode not in {CERT_NONE, CERT_OPTIONAL}")
        self.require_starttls = tls_context and require_starttls
        self._timeout_duration = timeout
        self._timeout_handle = None
        self._tls_handshake_okay = True
        self._tls_protocol = None
        self._original_transport = None
        self.session = None
        self.envelope = None
        self.transport = None
        self._handler_coroutine = None
        self._auth_require_tls = auth_require_tls
        self._proxy_timeout = None
        self._authenticator = authenticator
        self._auth_callback = None
        self._auth_required = False
        self._auth_methods = {
            mechanism: _AuthMechAttr(getattr(self if builtin else handler, name), builtin)
            for mechanism, name, builtin in tables.auth
        }
        if log.isEnabledFor(logging.INFO):
            mechanisms = sorted(self._auth_methods.items())
            log.info(
                "Available AUTH mechanisms: "
                + " ".join(m + "(builtin)" if impl.is_builtin else m for m, impl in mechanisms)
            )
        self._handle_hooks = {hook: getattr(handler, name) for hook, name in tables.hooks}
        self._ehlo_hook_ver = tables.ehlo_version
        self._smtp_methods = {command: getattr(self, name) for command, name in tables.smtp}
        self._enforce_call_limit = False

    def _reset_timeout(self, duration: float | None = None) -> None:
        """Note the time of a command; start the session's one idle timer if it has none."""
        if duration is not None:  # PROXY's own timeout, not the idle one: aiosmtpd's way
            super()._reset_timeout(duration)
            self._idle_timer = False
            return
        self._idle_since = self.loop.time()
        if self._timeout_handle is None or not self._idle_timer:
            if self._timeout_handle is not None:
                self._timeout_handle.cancel()
            self._timeout_handle = self.loop.call_later(self._timeout_duration, self._idle_check)
            self._idle_timer = True

    def _idle_check(self) -> None:
        """Close an idle session as aiosmtpd does; wait out the rest if a command came since."""
        left = self._idle_since + self._timeout_duration - self.loop.time()
        if left > 0:
            self._timeout_handle = self.loop.call_later(left, self._idle_check)
            return
        self._timeout_cb()  # type: ignore[no-untyped-call]
