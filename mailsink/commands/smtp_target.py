"""Where the SMTP clients here (``sendmail``, ``ingest``) deliver: ``[USER:PASS@]HOST:PORT``.

A sink started with ``--auth``/``--require-auth`` wants AUTH before MAIL:
credentials before the ``@`` are sent with AUTH (PLAIN or LOGIN, whichever
the sink offers); the password is never printed.
"""

from __future__ import annotations

import smtplib
from dataclasses import dataclass, field
from urllib.parse import unquote

from mailsink.config import split_host_port
from mailsink.smtp_client import open_session


@dataclass(frozen=True)
class SMTPTarget:
    """A sink's SMTP address, with the credentials to log in, if any."""

    host: str
    port: int
    user: str | None = None
    password: str | None = field(default=None, repr=False)

    @property
    def shown(self) -> str:
        """Return ``HOST:PORT`` for messages (never the password)."""
        return f"{self.host}:{self.port}"

    def connect(self, timeout: float, verbose: bool = False) -> smtplib.SMTP:
        """Connect, say EHLO and log in when credentials were given."""
        return open_session(
            self.host, self.port, timeout=timeout, user=self.user, password=self.password,
            debug=verbose,
        )  # fmt: skip


def parse_target(text: str) -> SMTPTarget:
    """Parse ``[USER:PASS@]HOST:PORT`` (user and password may be %-encoded); raise ValueError."""
    credentials, at, address = text.strip().rpartition("@")
    host, port = split_host_port(address)
    if not at:
        return SMTPTarget(host, port)
    user, colon, password = credentials.partition(":")
    if not colon or not user:
        raise ValueError("expected USER:PASS@HOST:PORT")
    return SMTPTarget(host, port, unquote(user), unquote(password))
