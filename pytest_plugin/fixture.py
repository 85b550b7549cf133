"""The ``mailsink`` fixture object: where to send, what arrived, waits and assertions.

It works the same over both backends - the in-process sink (``local.py``) and
a remote one (``remote.py``); a backend's capture only has to list this
test's messages and block until a condition holds.  Every assertion that
fails lists what the test did capture and why the closest messages missed.
"""

from __future__ import annotations

import re
import smtplib
import ssl
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol, overload

from mailsink.pytest_plugin.matching import (
    check_criteria,
    describe_criteria,
    explain,
    select,
)
from mailsink.pytest_plugin.message import Message
from mailsink.pytest_plugin.remote import new_token

if TYPE_CHECKING:
    from mailsink.faults import AddressMatch


class FaultRules(Protocol):
    """The misbehaviour rules a backend offers: in-process ``Faults``, or the remote sink's API."""

    def reject_sender(
        self, address: AddressMatch, code: int = 550, message: str | None = None
    ) -> str: ...
    def reject_recipient(
        self, address: AddressMatch, code: int = 550, message: str | None = None
    ) -> str: ...
    def fail_next(self, count: int = 1, code: int = 451, message: str | None = None) -> str: ...
    def delay(self, seconds: float, stage: str = "data") -> str: ...
    def drop_connection(self, stage: str = "data", count: int = 1) -> str: ...
    def refuse(self, count: int = 1, code: int = 554, message: str | None = None) -> str: ...
    def clear(self) -> None: ...


_LOCAL = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*")
"""An RFC 5321 dot-atom local part: no CR, LF, space, quote, bracket or @."""
_DOMAIN = re.compile(
    r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*"
)


class Capture(Protocol):
    """What a backend offers for one test."""

    def messages(self) -> list[Message]: ...
    def wait(self, done: Callable[[list[Message]], bool], timeout: float) -> list[Message]: ...
    def clear(self) -> None: ...
    def hint(self, messages: list[Message]) -> str: ...
    def close(self) -> None: ...


class Server(Protocol):
    """What a backend offers for the session."""

    @property
    def host(self) -> str: ...
    @property
    def port(self) -> int: ...
    @property
    def url(self) -> str: ...
    @property
    def ca_path(self) -> Path | None: ...
    def fault_rules(self, token: str) -> FaultRules: ...
    def capture(self) -> Capture: ...
    def stop(self) -> None: ...


FRAMEWORKS = ("django", "flask", "smtplib")


class MailSink:
    """One test's view of the sink: send here, then wait for and assert on what arrived."""

    def __init__(
        self,
        server: Server,
        capture: Capture,
        timeout: float,
        credentials: tuple[str, str] | None = None,
    ) -> None:
        self._server = server
        self._capture = capture
        self.timeout = timeout
        """Seconds that ``wait_for`` and ``assert_sent`` wait unless told otherwise."""
        self.credentials = credentials
        """A (user, password) pair the sink accepts, when it requires given credentials."""
        self.token: str = getattr(capture, "token", "") or new_token()
        """This test's token: the plus-address part of ``address()``."""
        self._faults: FaultRules | None = None

    def __repr__(self) -> str:
        return f"<mailsink {self.host}:{self.port}>"

    # -- where to send
    @property
    def host(self) -> str:
        """Return the SMTP host the app under test sends to."""
        return self._server.host

    @property
    def port(self) -> int:
        """Return the SMTP port the app under test sends to."""
        return self._server.port

    @property
    def url(self) -> str:
        """Return the web UI's URL (in-process, the web server starts on first use)."""
        return self._server.url

    @property
    def ca_path(self) -> Path | None:
        """Return the certificate to trust for STARTTLS (None when TLS is off or remote)."""
        return self._server.ca_path

    def address(self, name: str = "user", domain: str = "example.test") -> str:
        """Return an address unique to this test: ``name+<token>@domain``.

        Remote mode needs it to tell this test's mail apart; in-process it is
        optional (every message since the test started is the test's).  The
        name and domain must be a plain local part and domain: CR, LF,
        spaces, quotes or brackets raise ValueError (smtplib would otherwise
        send ``evil\r\nRCPT TO:<x+token@...>`` as two commands).
        """
        local, _, at_domain = name.partition("@")
        domain = at_domain or domain
        if not _LOCAL.fullmatch(local) or not _DOMAIN.fullmatch(domain):
            raise ValueError(f"not a plain address name and domain: {name!r}, {domain!r}")
        return f"{local}+{self.token}@{domain}"

    def ssl_context(self) -> ssl.SSLContext:
        """Return a client TLS context that trusts the sink's certificate."""
        if self.ca_path is None:
            raise RuntimeError("TLS is off for this sink (--mailsink-tls=off)")
        return ssl.create_default_context(cafile=str(self.ca_path))

    def smtp(self, tls: bool = False, timeout: float = 10.0) -> smtplib.SMTP:
        """Return a connected ``smtplib.SMTP`` (STARTTLS done when ``tls``); close it after."""
        client = smtplib.SMTP(self.host, self.port, timeout=timeout)
        if tls:
            client.starttls(context=self.ssl_context())
        return client

    def settings_for(self, framework: str, tls: bool = False) -> dict[str, Any]:
        """Return the mail settings of ``django``, ``flask`` (Flask-Mail) or ``smtplib``.

        With ``tls`` the app uses STARTTLS; it must trust ``ca_path`` (for Django
        and most libraries: set the ``SSL_CERT_FILE`` environment variable to it).
        """
        user, password = self.credentials or ("", "")
        if framework == "django":
            return {
                "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
                "EMAIL_HOST": self.host,
                "EMAIL_PORT": self.port,
                "EMAIL_USE_TLS": tls,
                "EMAIL_USE_SSL": False,
                "EMAIL_HOST_USER": user,
                "EMAIL_HOST_PASSWORD": password,
                "EMAIL_TIMEOUT": 10,
            }
        if framework in ("flask", "flask_mail"):
            return {
                "MAIL_SERVER": self.host,
                "MAIL_PORT": self.port,
                "MAIL_USE_TLS": tls,
                "MAIL_USE_SSL": False,
                "MAIL_USERNAME": user or None,
                "MAIL_PASSWORD": password or None,
            }
        if framework == "smtplib":
            return {"host": self.host, "port": self.port}
        raise ValueError(f"unknown framework {framework!r}; use one of {', '.join(FRAMEWORKS)}")

    # -- what arrived
    @property
    def messages(self) -> list[Message]:
        """Return a snapshot of this test's messages, oldest first."""
        return self._capture.messages()

    def clear(self) -> None:
        """Forget the messages so far: later calls see only newer mail (nothing is deleted)."""
        self._capture.clear()

    @overload
    def wait_for(
        self, count: Literal[1] = 1, *, timeout: float | None = None, **match: Any
    ) -> Message: ...
    @overload
    def wait_for(
        self, count: int, *, timeout: float | None = None, **match: Any
    ) -> list[Message]: ...
    def wait_for(
        self, count: int = 1, *, timeout: float | None = None, **match: Any
    ) -> Message | list[Message]:
        """Wait until ``count`` matching messages arrived; return the first (count=1) or all."""
        __tracebackhide__ = True
        found, _ = self._wait(count, timeout, match, waiting=True)
        return found[0] if count == 1 else found

    @overload
    def assert_sent(
        self, count: Literal[1] = 1, *, timeout: float | None = None, **match: Any
    ) -> Message: ...
    @overload
    def assert_sent(
        self, count: int, *, timeout: float | None = None, **match: Any
    ) -> list[Message]: ...
    def assert_sent(
        self, count: int = 1, *, timeout: float | None = None, **match: Any
    ) -> Message | list[Message]:
        """Assert that exactly ``count`` matching messages arrived (waiting for them)."""
        __tracebackhide__ = True
        found, messages = self._wait(count, timeout, match, waiting=False)
        if len(found) != count:
            raise AssertionError(
                self._explain(
                    f"expected exactly {count} message(s) matching {describe_criteria(match)}, "
                    f"found {len(found)}",
                    messages,
                    match,
                )
            )
        return found[0] if count == 1 else found

    def assert_not_sent(self, *, timeout: float = 0.0, **match: Any) -> None:
        """Assert that no matching message arrived (watching ``timeout`` more seconds)."""
        __tracebackhide__ = True
        check_criteria(match)
        if timeout > 0:
            messages = self._capture.wait(lambda ms: bool(select(ms, match)), timeout)
        else:
            messages = self._capture.messages()
        found = select(messages, match)
        if found:
            raise AssertionError(
                self._explain(
                    f"expected no message matching {describe_criteria(match)}, found {len(found)}",
                    messages,
                    {},
                )
            )

    def assert_nothing_sent(self, *, timeout: float = 0.0) -> None:
        """Assert that this test captured no mail at all (watching ``timeout`` more seconds)."""
        __tracebackhide__ = True
        self.assert_not_sent(timeout=timeout)

    def _wait(
        self, count: int, timeout: float | None, match: Mapping[str, Any], waiting: bool
    ) -> tuple[list[Message], list[Message]]:
        __tracebackhide__ = True
        check_criteria(match)
        if count < 1:
            raise ValueError("count must be at least 1 (use assert_not_sent for none)")
        seconds = self.timeout if timeout is None else timeout
        messages = self._capture.wait(lambda ms: len(select(ms, match)) >= count, seconds)
        found = select(messages, match)
        if len(found) < count:
            wanted = f"{count} message(s) matching {describe_criteria(match)}"
            headline = (
                f"timed out after {seconds:g}s waiting for {wanted}: found {len(found)}"
                if waiting
                else f"expected {wanted} (waited {seconds:g}s), found {len(found)}"
            )
            raise AssertionError(self._explain(headline, messages, match))
        return found, messages

    def _explain(self, headline: str, messages: list[Message], match: Mapping[str, Any]) -> str:
        try:
            url: str | None = self.url + "/"
        except Exception:  # noqa: BLE001 - a failure message must never fail itself
            url = None
        hint = self._capture.hint(messages) if not select(messages, match) else ""
        return str(explain(headline, messages, match, url, hint))

    # -- misbehaviour, undone after the test
    @property
    def faults(self) -> FaultRules:
        """Return this test's fault rules; they are removed when the test ends.

        In-process these are the listener's own rules.  In remote mode each
        rule is sent to the sink's ``/api/v1/faults`` scoped to this test's
        token, so it touches only mail to ``address(...)`` (and, at MAIL, senders
        made with ``address(...)``), and it has a lifetime, so a worker that
        dies leaves nothing behind for long.
        """
        if self._faults is None:
            self._faults = self._server.fault_rules(self.token)
        return self._faults

    def reject_sender(
        self, address: AddressMatch, code: int = 550, message: str | None = None
    ) -> None:
        """Refuse MAIL FROM for matching senders with ``code`` until the test ends."""
        self.faults.reject_sender(address, code, message)

    def reject_recipient(
        self, address: AddressMatch, code: int = 550, message: str | None = None
    ) -> None:
        """Refuse RCPT TO for matching recipients with ``code`` until the test ends."""
        self.faults.reject_recipient(address, code, message)

    def fail_next(self, count: int = 1, code: int = 451, message: str | None = None) -> None:
        """Answer DATA of the next ``count`` messages with ``code`` (not stored)."""
        self.faults.fail_next(count, code, message)

    def delay(self, seconds: float, stage: str = "data") -> None:
        """Delay every reply at ``stage`` (connect, mail, rcpt or data) until the test ends."""
        self.faults.delay(seconds, stage)

    def drop_connection(self, stage: str = "data", count: int = 1) -> None:
        """Close the next ``count`` connections at ``stage`` without replying."""
        self.faults.drop_connection(stage, count)

    def refuse(self, count: int = 1, code: int = 554, message: str | None = None) -> None:
        """Greet the next ``count`` connections with ``code`` instead of 220 (in-process only)."""
        self.faults.refuse(count, code, message)

    def close(self) -> None:
        """End the test: undo fault rules, stop capturing."""
        try:
            if self._faults is not None:
                self._faults.clear()
        finally:
            self._capture.close()
