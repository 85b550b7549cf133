"""Relay settings: the upstream URL, the allowlist, the auto-relay rules and the retry schedule.

``--relay smtp+starttls://user:pass@smtp.example.com:587`` is parsed by
:func:`parse_upstream`; ``--relay-config FILE`` (TOML, or YAML with PyYAML
installed) by :func:`load_relay_config`::

    url = "smtps://user:pass@smtp.example.com"   # or host/port/user/password keys
    allow = '@mycompany\\.com$'                   # regex over recipient addresses
    sender = "bounces@mycompany.com"              # envelope sender (default: original)

    [[auto]]                                      # relay new mail matching a query...
    query = "to:@mycompany.com"
    # to = ["qa@mycompany.com"]                   # ...to these instead of its recipients

The password lives only in :class:`Upstream` and is left out of its
``repr`` and of :meth:`Upstream.display`, which is what the UI, the API and
the logs show.
"""

from __future__ import annotations

import dataclasses
import re
import sys
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mailsink.smtp_client import Security

SCHEMES: dict[str, Security] = {"smtp": "plain", "smtp+starttls": "starttls", "smtps": "tls"}
DEFAULT_PORTS: dict[Security, int] = {"plain": 25, "starttls": 587, "tls": 465}
_FALSE = {"off", "false", "0", "no"}


@dataclass(frozen=True)
class Upstream:
    """Where relayed mail goes: host, port, how the connection is secured, and AUTH."""

    host: str
    port: int
    security: Security = "plain"
    """``plain`` (no TLS), ``starttls`` (required), or ``tls`` (implicit TLS, SMTPS)."""
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    verify: bool = True
    """Check the upstream's certificate; ``?verify=off`` for self-signed test servers."""

    def display(self) -> str:
        """Return the upstream as shown to people: no password, ever."""
        scheme = next(s for s, sec in SCHEMES.items() if sec == self.security)
        user = f"{urllib.parse.quote(self.user, safe='')}@" if self.user else ""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}://{user}{host}:{self.port}" + ("" if self.verify else "?verify=off")

    @property
    def address(self) -> str:
        """Return ``host:port`` (Mailpit's ``SMTPServer`` field)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


@dataclass(frozen=True)
class AutoRule:
    """Relay every new message matching ``query`` (mailsink's search language)."""

    query: str
    to: tuple[str, ...] = ()
    """Fixed recipients; empty: the message's own envelope recipients."""


@dataclass(frozen=True)
class RelaySettings:
    """Everything relay needs; built by the CLI and kept in ``Settings.relay``."""

    upstream: Upstream
    allow: str | None = None
    """Regex searched in each recipient address (case-insensitive); None: any given address."""
    auto: tuple[AutoRule, ...] = ()
    sender: str | None = None
    """Envelope sender for relayed mail; None: the original MAIL FROM."""
    retry_base: float = 30.0
    """Seconds before the first retry; doubled after each deferral."""
    retry_max: float = 3600.0
    max_attempts: int = 10
    timeout: float = 30.0
    """Seconds an upstream may take to answer one command."""

    def allows(self, address: str) -> bool:
        """Tell whether the allowlist lets mail go to this address."""
        return self.allow is None or re.search(self.allow, address, re.IGNORECASE) is not None


def parse_upstream(url: str) -> Upstream:
    """Parse ``smtp://``, ``smtp+starttls://`` or ``smtps://`` URLs (module docstring).

    The form is ``SCHEME://[USER:PASS@]HOST[:PORT][?verify=off]``; errors
    never quote the URL, which may hold the password.
    """
    parts = urllib.parse.urlsplit(url.strip())
    security = SCHEMES.get(parts.scheme.lower())
    if security is None:
        schemes = ", ".join(s + "://" for s in SCHEMES)
        raise ValueError(f"relay URL must start with {schemes}; got {parts.scheme!r}")
    if not parts.hostname:
        raise ValueError("relay URL has no host")
    try:
        port = parts.port or DEFAULT_PORTS[security]
    except ValueError:
        raise ValueError("relay URL has a bad port") from None
    query = urllib.parse.parse_qs(parts.query)
    unknown = sorted(set(query) - {"verify"})
    if unknown:
        raise ValueError(f"unknown relay URL option {unknown[0]!r} (known: verify)")
    verify = query.get("verify", ["on"])[-1].lower() not in _FALSE
    user = urllib.parse.unquote(parts.username) if parts.username else None
    password = urllib.parse.unquote(parts.password) if parts.password is not None else None
    return Upstream(parts.hostname, port, security, user, password, verify)


def _strings(value: Any, label: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise ValueError(f"{label} must be a string or a list of strings")


def check_allow(pattern: str | None) -> str | None:
    """Return a valid allowlist regex (None stays None); raise ValueError for a bad one."""
    if pattern is None or not pattern.strip():
        return None
    try:
        re.compile(pattern)
    except re.error as error:
        raise ValueError(f"the relay allowlist is not a valid regex: {error}") from None
    return pattern


def relay_settings_from_mapping(data: dict[str, Any]) -> RelaySettings:
    """Build RelaySettings from a config file's table (see the module docstring)."""
    known = {
        "url", "host", "port", "security", "user", "password", "verify", "allow", "sender",
        "auto", "retry_base", "retry_max", "max_attempts", "timeout",
    }  # fmt: skip
    unknown = sorted(set(data) - known)
    if unknown:
        raise ValueError(f"unknown relay setting {unknown[0]!r}")
    if "url" in data:
        upstream = parse_upstream(str(data["url"]))
    elif "host" in data:
        security = str(data.get("security", "plain"))
        if security not in DEFAULT_PORTS:
            raise ValueError("security must be plain, starttls or tls")
        upstream = Upstream(
            str(data["host"]),
            int(data.get("port", DEFAULT_PORTS[security])),
            security,
            str(data["user"]) if data.get("user") else None,
            str(data["password"]) if data.get("password") is not None else None,
            bool(data.get("verify", True)),
        )
    else:
        raise ValueError("the relay config needs url (or host)")
    rules = data.get("auto") or []
    if isinstance(rules, (str, dict)):
        rules = [rules]
    auto = []
    for rule in rules:
        if isinstance(rule, str):
            auto.append(AutoRule(rule))
        elif isinstance(rule, dict) and isinstance(rule.get("query"), str):
            auto.append(AutoRule(rule["query"], _strings(rule.get("to"), "auto.to")))
        else:
            raise ValueError("each auto rule needs a query")
    numbers = {
        key: float(data[key]) for key in ("retry_base", "retry_max", "timeout") if key in data
    }
    return RelaySettings(
        upstream,
        allow=check_allow(data.get("allow")),
        auto=tuple(auto),
        sender=str(data["sender"]) if data.get("sender") else None,
        max_attempts=int(data.get("max_attempts", 10)),
        **numbers,
    )


def load_relay_config(path: str | Path) -> RelaySettings:
    """Read a TOML (``.toml``) or YAML (``.yaml``/``.yml``) relay config; raise ValueError."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ValueError(f"cannot read {path}: {error.strerror}") from None
    data: Any
    if path.suffix.lower() in (".yaml", ".yml"):
        try:
            import yaml  # type: ignore[import-untyped,import-not-found,unused-ignore]
        except ImportError:
            raise ValueError(
                "YAML relay configs need PyYAML: pip install 'mailsink-server[yaml]'"
            ) from None
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as error:
            raise ValueError(f"{path}: {error}") from None
    else:
        if sys.version_info >= (3, 11):
            import tomllib
        else:  # Python 3.10: the same parser from PyPI
            import tomli as tomllib  # type: ignore[import-not-found,unused-ignore]
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as error:
            raise ValueError(f"{path}: {error}") from None
    if isinstance(data, dict) and isinstance(data.get("relay"), dict):
        data = data["relay"]  # a [relay] table is fine too
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a table of relay settings")
    try:
        return relay_settings_from_mapping(data)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{path}: {error}") from None


def relay_settings_from_options(
    url: str | None,
    config: str | None,
    allow: str | None = None,
    auto: tuple[str, ...] = (),
    auto_to: tuple[str, ...] = (),
    sender: str | None = None,
) -> RelaySettings | None:
    """Build the relay settings from the ``--relay*`` options; None without relay; ValueError.

    ``--relay`` or ``--relay-config`` names the upstream; the other options add
    to (or override) what the file says.  Every rule's query is parsed here, so
    a bad one stops the command at start-up rather than at the first message.
    """
    from mailsink.search import parse_query

    if url and config:
        raise ValueError("give --relay or --relay-config, not both")
    if config:
        relay = load_relay_config(config)
    elif url:
        relay = RelaySettings(parse_upstream(url))
    elif auto or allow or sender or auto_to:
        raise ValueError("--relay-auto, --relay-allow and --relay-sender need --relay URL")
    else:
        return None
    relay = dataclasses.replace(
        relay,
        allow=check_allow(allow) if allow else relay.allow,
        sender=sender or relay.sender,
        auto=(*relay.auto, *(AutoRule(query, auto_to) for query in auto)),
    )
    for rule in relay.auto:
        parse_query(rule.query)
    return relay
