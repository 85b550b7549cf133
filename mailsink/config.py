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
    http_threads: int = 32
    max_request_bytes: int = DEFAULT_MAX_SIZE + 1024 * 1024
    webhook_url: str | None = None
    """POST each new message's summary here (Mailpit's webhook); None: no webhook."""
    webhook_limit: float = 0.0
    """Most webhook POSTs per second (0: no limit); messages beyond it get none."""
    metrics: bool = True
    """Serve Prometheus metrics at ``/metrics``."""

    @property
    def tls_enabled(self) -> bool:
        """Tell whether a TLS context is needed at all."""
        return self.tls or self.smtps_port is not None or self.require_tls


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


WILDCARD_HOSTS = ("0.0.0.0", "::", "")
"""Bind addresses that mean "every interface"."""


def connect_host(bound: str) -> str:
    """Return the address a local client connects to for a socket bound to ``bound``.

    A socket bound to every interface is reached on loopback.
    """
    return "127.0.0.1" if bound in WILDCARD_HOSTS else bound


MEMORY_STORE_SPECS = ("", "memory", ":memory:")


def is_memory_store(spec: str) -> bool:
    """Tell whether a ``--store`` value names the memory store (anything else is a path)."""
    return spec in MEMORY_STORE_SPECS
