"""The plugin's options: each one a command-line flag, an ini key and an environment variable.

``--mailsink-tls`` is also ini ``mailsink_tls`` and ``MAILSINK_PYTEST_TLS``.
The command line wins over the environment, which wins over the ini file
(pytest-django's order).  The variables carry a ``PYTEST_`` infix so that the
``MAILSINK_*`` variables of a sink running beside the tests never leak in.

This module is imported at every pytest start-up, so it imports nothing heavy.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from mailsink.credentials import split_url_credentials

if TYPE_CHECKING:
    import pytest

    from mailsink.config import Settings

OPTIONS: dict[str, tuple[str, str]] = {
    "url": (
        "",
        "drive an already running sink over its HTTP API (e.g. http://127.0.0.1:8025) "
        "instead of starting one in-process",
    ),
    "smtp": (
        "",
        "remote mode: the SMTP HOST:PORT apps should send to (default: asked from the sink's API)",
    ),
    "bind": ("127.0.0.1", "in-process: the address the SMTP (and web) listener binds to"),
    "tls": (
        "on",
        "in-process: offer STARTTLS with a session-cached certificate (on), "
        "refuse mail without it (require), or not at all (off)",
    ),
    "tls_cert": ("", "in-process: a PEM certificate to use instead of a generated one"),
    "tls_key": ("", "in-process: the private key of --mailsink-tls-cert"),
    "auth": (
        "any",
        "in-process: accept any AUTH credentials (any), or only these (USER:PASS[,USER:PASS])",
    ),
    "require_auth": ("off", "in-process: refuse MAIL before a successful AUTH (on/off)"),
    "store": ("memory", "in-process: 'memory' or a SQLite file path (one file per xdist worker)"),
    "timeout": ("10", "default seconds that wait_for and assert_sent wait"),
    "dns_records": (
        "",
        'message.auth: a file of BIND-style records (NAME TXT "value") answering its DNS',
    ),
    "dns": ("off", "message.auth: ask real DNS for names the records file lacks (on/off)"),
}

_TRUE = {"1", "on", "true", "yes"}
_FALSE = {"0", "off", "false", "no", ""}


@dataclass(frozen=True)
class PluginOptions:
    """The plugin's settings, read once per session."""

    url: str = ""
    smtp: tuple[str, int] | None = None
    bind: str = "127.0.0.1"
    tls: str = "on"
    tls_cert: str = ""
    tls_key: str = ""
    auth_users: tuple[tuple[str, str], ...] = ()
    require_auth: bool = False
    store: str = "memory"
    timeout: float = 10.0
    dns_records: str = ""
    dns: bool = False

    def check_settings(self) -> Settings:
        """Return the Settings that ``message.auth`` and ``html_check()`` run with."""
        from mailsink.config import Settings

        return Settings(dns_records=self.dns_records or None, dns=self.dns)


def add_options(parser: pytest.Parser) -> None:
    """Register every option as a flag and an ini key."""
    group = parser.getgroup("mailsink", "mailsink: capture and assert on sent mail")
    for name, (default, help_text) in OPTIONS.items():
        env = env_name(name)
        group.addoption(
            "--mailsink-" + name.replace("_", "-"),
            dest="mailsink_" + name,
            default=None,
            help=f"{help_text} [ini mailsink_{name}, env {env}; default {default or 'none'}]",
        )
        parser.addini("mailsink_" + name, f"{help_text} (env {env})", default=None)


def env_name(name: str) -> str:
    """Return the environment variable of an option."""
    return "MAILSINK_PYTEST_" + name.upper()


def raw_value(config: pytest.Config, env: Mapping[str, str], name: str) -> str:
    """Return an option's text: command line, else environment, else ini, else default."""
    value = config.getoption("mailsink_" + name, None)
    if value is None:
        value = env.get(env_name(name))
    if value is None:
        value = config.getini("mailsink_" + name)
    if value is None or value == []:
        value = OPTIONS[name][0]
    return str(value).strip()


def _flag(name: str, text: str) -> bool:
    lowered = text.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ValueError(f"mailsink_{name}: expected on or off, got {text!r}")


def _host_port(name: str, text: str) -> tuple[str, int]:
    from mailsink.config import split_host_port

    try:
        return split_host_port(text)
    except ValueError as error:
        raise ValueError(f"mailsink_{name}: {error}") from None


def _tls_mode(text: str) -> str:
    lowered = text.lower()
    if lowered in _TRUE:
        return "on"
    if lowered in _FALSE:
        return "off"
    if lowered != "require":
        raise ValueError(f"mailsink_tls: expected on, off or require, got {text!r}")
    return lowered


def _auth_users(text: str) -> tuple[tuple[str, str], ...]:
    if text.lower() in ("any", ""):
        return ()
    users = []
    for pair in text.split(","):
        user, sep, password = pair.strip().partition(":")
        if not sep or not user:
            raise ValueError(f"mailsink_auth: expected any or USER:PASS[,...], got {pair!r}")
        users.append((user, password))
    return tuple(users)


def parse_options(config: pytest.Config, env: Mapping[str, str]) -> PluginOptions:
    """Read and check every option; raise ValueError with the option's name when bad."""
    values = {name: raw_value(config, env, name) for name in OPTIONS}
    url = values["url"].rstrip("/")
    if url:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            shown = split_url_credentials(url)[0]  # never echo a password
            raise ValueError(f"mailsink_url: expected http://HOST:PORT, got {shown!r}")
    tls = _tls_mode(values["tls"])
    if values["tls_key"] and not values["tls_cert"]:
        raise ValueError("mailsink_tls_key needs mailsink_tls_cert")
    auth_users = _auth_users(values["auth"])
    try:
        timeout = float(values["timeout"])
    except ValueError:
        raise ValueError(f"mailsink_timeout: not a number: {values['timeout']!r}") from None
    if timeout <= 0:
        raise ValueError("mailsink_timeout: must be positive")
    return PluginOptions(
        url=url,
        smtp=_host_port("smtp", values["smtp"]) if values["smtp"] else None,
        bind=values["bind"] or "127.0.0.1",
        tls=tls,
        tls_cert=values["tls_cert"],
        tls_key=values["tls_key"],
        auth_users=auth_users,
        require_auth=_flag("require_auth", values["require_auth"]),
        store=values["store"] or "memory",
        timeout=timeout,
        dns_records=values["dns_records"],
        dns=_flag("dns", values["dns"]),
    )
