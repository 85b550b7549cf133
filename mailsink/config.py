"""Settings: every knob of a running sink, in one frozen object.

The command line (``cli.py``) builds it from flags and ``MAILSINK_*``
environment variables; the pytest plugin builds it from its options.  Nothing
else reads the environment: the settings flow down to whatever needs them.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

DEFAULT_MAX_SIZE = 25 * 1024 * 1024


@dataclass(frozen=True)
class Settings:
    """Configuration of one sink: listeners, store, limits, TLS and AUTH."""

    smtp_host: str = "127.0.0.1"
    smtp_port: int = 1025
    smtps_host: str = "127.0.0.1"
    smtps_port: int | None = None
    """Implicit-TLS (SMTPS) listener port; None means no such listener."""
    http_host: str = "127.0.0.1"
    http_port: int | None = 8025
    """Web UI and API port; None means no web server."""
    store: str = "memory"
    store_sync: str = "normal"
    max_messages: int = 0
    max_size: int = DEFAULT_MAX_SIZE
    max_recipients: int = 1000
    idle_timeout: float = 300.0
    hostname: str = "mailsink"
    tls: bool = True
    """Offer STARTTLS (with a generated certificate unless one is given)."""
    tls_cert: str | None = None
    tls_key: str | None = None
    tls_dir: str | None = None
    """Where a generated certificate is written; a new temporary folder if None."""
    require_tls: bool = False
    auth_users: tuple[tuple[str, str], ...] = ()
    """When set, AUTH must present one of these (user, password) pairs (else 535)."""
    require_auth: bool = False
    """Refuse MAIL before a successful AUTH (530)."""
    allowed_hosts: tuple[str, ...] = ()
    """Extra Host header names the web server answers to (beyond the bound address)."""
    cors_origins: tuple[str, ...] = ()
    # POP3 and IMAP (issue 16): each listener is off while its port is None.
    pop3_host: str = "127.0.0.1"
    pop3_port: int | None = None
    pop3s_host: str = "127.0.0.1"
    pop3s_port: int | None = None
    imap_host: str = "127.0.0.1"
    imap_port: int | None = None
    imaps_host: str = "127.0.0.1"
    imaps_port: int | None = None
    reader_connections: int = 100
    """Most POP3 and IMAP connections open at once (together); more are refused."""
    reader_idle_timeout: float = 1800.0
    """Seconds a silent POP3/IMAP client is kept (RFC 3501 asks for at least 30 minutes)."""
    http_threads: int = 32
    max_request_bytes: int = DEFAULT_MAX_SIZE + 1024 * 1024

    @property
    def tls_enabled(self) -> bool:
        """Tell whether a TLS context is needed at all."""
        return (
            self.tls
            or self.smtps_port is not None
            or self.require_tls
            or self.pop3s_port is not None
            or self.imaps_port is not None
        )

    def reader_endpoints(self) -> list[tuple[str, str, int]]:
        """Return (name, host, port) of each POP3/IMAP listener switched on."""
        return [
            (name, host, port)
            for name, host, port in (
                ("pop3", self.pop3_host, self.pop3_port),
                ("pop3s", self.pop3s_host, self.pop3s_port),
                ("imap", self.imap_host, self.imap_port),
                ("imaps", self.imaps_host, self.imaps_port),
            )
            if port is not None
        ]


def split_host_port(value: str, default_host: str = "127.0.0.1") -> tuple[str, int]:
    """Parse ``HOST:PORT``, ``[v6]:PORT``, ``:PORT`` or ``PORT`` into (host, port)."""
    value = value.strip()
    if value.startswith("["):
        host, _, rest = value[1:].partition("]")
        port_text = rest.lstrip(":")
    elif value.count(":") == 1:
        host, port_text = value.split(":")
    elif value.isdigit():
        host, port_text = "", value
    else:
        raise ValueError(f"expected HOST:PORT, got {value!r}")
    try:
        port = int(port_text)
    except ValueError:
        raise ValueError(f"bad port in {value!r}") from None
    if not 0 <= port <= 65535:
        raise ValueError(f"port out of range in {value!r}")
    return host or default_host, port


def is_loopback(host: str) -> bool:
    """Tell whether a bind address only accepts local connections."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
