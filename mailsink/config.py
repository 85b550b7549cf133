"""Settings: every knob of a running sink, in one frozen object.

The command line (``cli.py``) builds it from flags and ``MAILSINK_*``
environment variables; the pytest plugin builds it from its options.  Nothing
else reads the environment: the settings flow down to whatever needs them.

A ``Settings`` checks itself when built, so a bad value fails where it was
given, as a ``SettingsError`` naming the field, instead of as a ``KeyError``
or an odd socket error deep inside the sink once it starts.
"""

from __future__ import annotations

import ipaddress
import math
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from mailsink.relay.settings import RelaySettings

DEFAULT_MAX_SIZE = 25 * 1024 * 1024
COMMAND_MAX_MESSAGES = 1000
"""The ``mailsink`` command's default ``--max-messages``: bounded, so a sink left running for
weeks keeps bounded memory (1000 transactional mails of ~50 KB: ~50 MB in the memory store),
and twice Mailpit's 500, so a test run of a few hundred mails is not pruned under it.
``Settings()`` itself keeps 0 (unlimited): embedding code, the pytest plugin and the
benchmarks choose their own."""
STORE_SYNC_MODES = ("normal", "full")

_ORIGIN = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^/\s]+")
"""An Origin header's value: scheme://host[:port], no path (browsers never send one)."""


class SettingsError(ValueError):
    """A Settings field holds a value the sink cannot run with; ``field`` names it."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


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
    uvloop: bool = True
    """Run the SMTP listener's event loop on uvloop when it is installed (``loop_thread.py``)."""
    max_connections: int = 500
    """Most SMTP connections, and most HTTP connections, open at once (421 / 429 beyond);
    kept under the open-file limit (``connections.py``)."""
    max_connections_per_peer: int = 100
    """Most of those from one client address."""
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
    enable_chaos: bool = False
    """Serve ``/api/v1/chaos`` and ``/api/v1/faults``: SMTP misbehaviour on demand."""
    relay: RelaySettings | None = None
    """The upstream to release and auto-relay to; None: relay is off."""
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
    webhook_url: str | None = None
    """POST each new message's summary here (Mailpit's webhook); None: no webhook."""
    webhook_limit: float = 0.0
    """Most webhook POSTs per second (0: no limit); messages beyond it get none."""
    metrics: bool = True
    """Serve Prometheus metrics at ``/metrics``."""
    # Content checks (mailsink.checks): outbound connections only where the user points.
    link_check: bool = False
    """Allow the link check to make requests to the links in mail (off: a 403 answer)."""
    link_check_allow_private: bool = False
    """Let the link check reach loopback/private addresses (tests, intranets)."""
    spamassassin: str | None = None
    """``HOST:PORT`` of a spamd for the spam check; None means no spam check."""
    dns_records: str | None = None
    """A file of BIND-style records that answer the auth check's DNS questions first."""
    dns: bool = True
    """Ask real DNS for names the records file does not list (``--dns off``: never)."""
    ui_auth: tuple[tuple[str, str], ...] = ()
    """HTTP basic-auth (user, password) pairs for the UI, API and event stream."""
    ui_auth_file: str | None = None
    """An htpasswd file of bcrypt hashes (``htpasswd -B``), read when the web app is built."""
    ui_tls: bool = False
    """Serve the web UI and API over HTTPS (with the generated certificate unless given)."""
    ui_tls_cert: str | None = None
    ui_tls_key: str | None = None
    webroot: str = "/"
    """The path prefix everything is served under (``/mail/`` behind a reverse proxy)."""
    label: str = ""
    """A name shown in the UI's title, to tell sinks apart."""
    max_age: float = 0.0
    """Seconds a message is kept; older ones are pruned (0: kept until max_messages)."""
    quiet: bool = False
    """No log line per received message."""
    verbose: bool = False
    """Also log the SMTP session traces (commands, with AUTH secrets masked)."""

    def __post_init__(self) -> None:
        """Refuse a value the sink cannot run with, naming the field."""
        _check_listeners(self)
        _check_limits(self)
        _check_tls_and_auth(self)
        _check_webhook_and_metrics(self)
        _check_team_host(self)
        _check_content_checks(self)

    @property
    def web_tls(self) -> bool:
        """Tell whether the web server speaks HTTPS."""
        return self.ui_tls or self.ui_tls_cert is not None

    @property
    def web_prefix(self) -> str:
        """Return the webroot without its trailing slash: ``""`` or ``/mail``."""
        return self.webroot.rstrip("/")

    @property
    def web_auth(self) -> bool:
        """Tell whether the web server asks for a login."""
        return bool(self.ui_auth or self.ui_auth_file)

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


def _check_listeners(s: Settings) -> None:
    _check_port("smtp_port", s.smtp_port, optional=False)
    _check_port("smtps_port", s.smtps_port, optional=True)
    _check_port("http_port", s.http_port, optional=True)
    for reader in ("pop3", "pop3s", "imap", "imaps"):
        _check_port(f"{reader}_port", getattr(s, f"{reader}_port"), optional=True)
    for name in ("smtp_host", "smtps_host", "http_host", "store"):
        _check_type(name, getattr(s, name), str)
    if s.store_sync not in STORE_SYNC_MODES:
        raise SettingsError("store_sync", f"expected normal or full, got {s.store_sync!r}")
    _check_type("hostname", s.hostname, str)
    # The greeting and EHLO reply carry it verbatim: a space or CR/LF would break them.
    if not s.hostname or any(c.isspace() or not c.isprintable() for c in s.hostname):
        raise SettingsError("hostname", f"expected one word, got {s.hostname!r}")
    _check_strings("allowed_hosts", s.allowed_hosts)
    _check_strings("cors_origins", s.cors_origins)
    for origin in s.cors_origins:
        if origin != "*" and not _ORIGIN.fullmatch(origin):
            raise SettingsError(
                "cors_origins", f"expected * or scheme://host[:port], got {origin!r}"
            )


def _check_limits(s: Settings) -> None:
    _check_int("max_messages", s.max_messages, minimum=0)
    _check_int("max_size", s.max_size, minimum=0)
    _check_int("max_recipients", s.max_recipients, minimum=1)
    _check_int("max_connections", s.max_connections, minimum=1)
    _check_int("max_connections_per_peer", s.max_connections_per_peer, minimum=1)
    _check_int("http_threads", s.http_threads, minimum=1)
    _check_int("max_request_bytes", s.max_request_bytes, minimum=1)
    _check_int("reader_connections", s.reader_connections, minimum=1)
    _check_seconds("idle_timeout", s.idle_timeout)
    _check_seconds("reader_idle_timeout", s.reader_idle_timeout)


def _check_seconds(name: str, timeout: object) -> None:
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
        raise SettingsError(name, f"expected seconds, got {timeout!r}")
    if not (timeout > 0 and math.isfinite(timeout)):
        raise SettingsError(name, f"must be a positive number, got {timeout!r}")


def check_webhook_url(url: str) -> str:
    """Return ``url`` if it is an http(s) URL with a host, else raise ValueError."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"expected an http:// or https:// URL with a host, got {url!r}")
    return url


def _check_webhook_and_metrics(s: Settings) -> None:
    if s.webhook_url is not None:
        _check_type("webhook_url", s.webhook_url, str)
        try:
            check_webhook_url(s.webhook_url)
        except ValueError as error:
            raise SettingsError("webhook_url", str(error)) from None
    limit = s.webhook_limit
    if isinstance(limit, bool) or not isinstance(limit, (int, float)):
        raise SettingsError("webhook_limit", f"expected a number per second, got {limit!r}")
    if not (limit >= 0 and math.isfinite(limit)):
        raise SettingsError("webhook_limit", f"must be 0 (no limit) or more, got {limit!r}")
    _check_type("metrics", s.metrics, bool)


def _check_tls_and_auth(s: Settings) -> None:
    for name in ("tls", "require_tls", "require_auth"):
        _check_type(name, getattr(s, name), bool)
    _check_optional_strings(s, "tls_cert", "tls_key", "tls_dir")
    if s.tls_key and not s.tls_cert:
        raise SettingsError("tls_key", "a key needs its certificate (tls_cert)")
    _check_credentials("auth_users", s.auth_users)


_WEBROOT = re.compile(r"/(?:[A-Za-z0-9._~-]+/)*(?:[A-Za-z0-9._~-]+)?")
_LABEL_CHARS = 100


def _check_team_host(s: Settings) -> None:
    _check_credentials("ui_auth", s.ui_auth)
    _check_optional_strings(s, "ui_auth_file", "ui_tls_cert", "ui_tls_key")
    if s.ui_tls_key and not s.ui_tls_cert:
        raise SettingsError("ui_tls_key", "a key needs its certificate (ui_tls_cert)")
    for name in ("ui_tls", "quiet", "verbose"):
        _check_type(name, getattr(s, name), bool)
    _check_type("webroot", s.webroot, str)
    parts = s.webroot.strip("/").split("/")
    if not _WEBROOT.fullmatch(s.webroot) or any(p in (".", "..") for p in parts):
        raise SettingsError(
            "webroot", f"expected a path such as /mail/ (letters, digits, ._~-), got {s.webroot!r}"
        )
    _check_type("label", s.label, str)
    if len(s.label) > _LABEL_CHARS or not s.label.isprintable():
        raise SettingsError("label", f"expected at most {_LABEL_CHARS} printable characters")
    age = s.max_age
    if isinstance(age, bool) or not isinstance(age, (int, float)) or not math.isfinite(age):
        raise SettingsError("max_age", f"expected seconds, got {age!r}")
    if age < 0:
        raise SettingsError("max_age", f"must not be negative, got {age}")
    if s.quiet and s.verbose:
        raise SettingsError("verbose", "quiet and verbose exclude each other")


def _check_optional_strings(s: Settings, *names: str) -> None:
    for name in names:
        value = getattr(s, name)
        if value is not None:
            _check_type(name, value, str)


def _check_credentials(field: str, value: object) -> None:
    _check_type(field, value, tuple)
    assert isinstance(value, tuple)
    for pair in value:
        well_formed = isinstance(pair, tuple) and len(pair) == 2 and pair[0]
        if not well_formed or not all(isinstance(part, str) for part in pair):
            raise SettingsError(field, "expected (user, password) pairs")  # never echo a password


def _check_content_checks(s: Settings) -> None:
    for name in ("link_check", "link_check_allow_private", "dns"):
        _check_type(name, getattr(s, name), bool)
    if s.spamassassin is not None:
        _check_type("spamassassin", s.spamassassin, str)
        try:
            split_host_port(s.spamassassin)
        except ValueError as error:
            raise SettingsError("spamassassin", str(error)) from None
    if s.dns_records is not None:
        _check_type("dns_records", s.dns_records, str)


def _check_type(field: str, value: object, kind: type) -> None:
    if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
        raise SettingsError(field, f"expected {kind.__name__}, got {value!r}")


def _check_int(field: str, value: object, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise SettingsError(field, f"expected int, got {value!r}")
    if value < minimum:
        raise SettingsError(field, f"must be at least {minimum}, got {value}")


def _check_port(field: str, value: object, optional: bool) -> None:
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, int):
        raise SettingsError(field, f"expected a port number, got {value!r}")
    if not 0 <= value <= 65535:
        raise SettingsError(field, f"expected a port 0-65535, got {value}")


def _check_strings(field: str, value: object) -> None:
    if not isinstance(value, tuple) or not all(isinstance(item, str) for item in value):
        raise SettingsError(field, f"expected a tuple of strings, got {value!r}")


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


POSTGRES_URL_SCHEMES = ("postgresql://", "postgres://")


def is_postgres_store(spec: str) -> bool:
    """Tell whether a ``--store`` value is a PostgreSQL URL (rather than a SQLite path)."""
    return spec.lower().startswith(POSTGRES_URL_SCHEMES)
