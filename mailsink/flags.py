"""The command line's options: one row each, from which everything else is derived.

Every option is one row of ``OPTIONS``; the argument parser, the environment
variables, the Settings the command builds and the README's option table
(``options_markdown``, checked by a test) all come from it, so adding an option
is one row here plus the Settings field it fills.  Each flag can also be given
as an environment variable ``MAILSINK_<FLAG>`` (upper case, dashes as
underscores: ``--max-size`` is ``MAILSINK_MAX_SIZE``); a flag on the command
line wins over the environment, which wins over the row's default.

Parsers here turn text into values and refuse text that is no such value;
whether a value is allowed (a port in range, a known sync mode, ...) is
``Settings``' own check, whose error is reported under the flag's name.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NoReturn

from mailsink import __version__
from mailsink.config import (
    COMMAND_MAX_MESSAGES,
    STORE_SYNC_MODES,
    Settings,
    SettingsError,
    split_host_port,
)
from mailsink.relay.settings import relay_settings_from_options

_BOOL_TRUE = {"1", "true", "yes", "on"}
_BOOL_FALSE = {"0", "false", "no", "off", ""}


def _size(text: str) -> int:
    """Parse a byte count with an optional K/M/G suffix (1024 multiples)."""
    text = text.strip().upper().removesuffix("B")
    factor = 1
    for suffix, mult in (("K", 1024), ("M", 1024**2), ("G", 1024**3)):
        if text.endswith(suffix):
            text, factor = text[:-1], mult
    try:
        value = int(float(text) * factor)
    except (ValueError, OverflowError):
        raise argparse.ArgumentTypeError(f"not a size: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError("size must not be negative")
    return value


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError("must not be negative")
    return value


def _recipients(text: str) -> int:
    """Parse --max-recipients; 0 means 1, as a message needs at least one recipient."""
    return max(1, _count(text))


def _seconds(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None


_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def _duration(text: str) -> float:
    """Parse ``3d``, ``12h``, ``30m``, ``90s`` or plain seconds; ``0``/``off`` is 0."""
    text = text.strip().lower()
    if text in ("", "0", "off", "none"):
        return 0.0
    unit = _DURATION_UNITS.get(text[-1:])
    number = text[:-1] if unit else text
    try:
        value = float(number) * (unit or 1)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a duration: {text!r} (e.g. 3d, 12h, 30m)") from None
    if not value >= 0:
        raise argparse.ArgumentTypeError("a duration must not be negative")
    return value


def _address(text: str) -> tuple[str, int]:
    try:
        return split_host_port(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _optional_address(text: str) -> tuple[str, int] | None:
    if text.strip().lower() in ("off", "none", "no", ""):
        return None
    return _address(text)


def _names(text: str) -> tuple[str, ...]:
    """Parse a comma-separated list, dropping blanks."""
    return tuple(name.strip() for name in text.split(",") if name.strip())


def _credentials(text: str) -> tuple[tuple[str, str], ...]:
    """Parse ``USER:PASSWORD[,USER:PASSWORD...]``."""
    pairs = []
    for item in text.split(","):
        if not item:
            continue
        user, sep, password = item.partition(":")
        if not sep or not user:
            raise argparse.ArgumentTypeError("expected USER:PASSWORD")
        pairs.append((user, password))
    return tuple(pairs)


def _rate(text: str) -> float:
    """Parse ``N`` or ``N/s`` (per second)."""
    try:
        return float(text.strip().removesuffix("/s"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected N or N/s, got {text!r}") from None


def _spamd(text: str) -> str | None:
    """Parse ``--spamassassin HOST:PORT`` (or off) into the ``HOST:PORT`` text."""
    if text.strip().lower() in ("off", "none", "no", ""):
        return None
    host, port = _address(text)
    return f"{host}:{port}"


def _records_file(text: str) -> str | None:
    """Parse ``--dns-records FILE``: a file that cannot be read as records is no such value."""
    if not text.strip():
        return None
    from mailsink.checks.dns import DnsRecordsError, load_records

    try:
        load_records(text)
    except DnsRecordsError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    return text


def _on_off(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered not in _BOOL_TRUE | _BOOL_FALSE:
        raise argparse.ArgumentTypeError(f"expected on or off, got {text!r}")
    return lowered in _BOOL_TRUE


@dataclass(frozen=True)
class Option:
    """One command-line option: its flag, environment variable, parser and Settings field."""

    flag: str
    """The long flag without dashes; the environment variable is derived from it."""
    default: str | bool | None
    """The value when neither flag nor variable is given, as text (parsed like them).

    A bool makes an on/off switch (``--tls`` / ``--no-tls``); None leaves the field unset.
    """
    help: str
    field: str | tuple[str, str]
    """The Settings field filled; a (host, port) pair for an address, whose ``off``
    sets the port to None and leaves the host at its default."""
    parse: Callable[[str], Any] = str
    metavar: str | None = None
    shown: str | None = None
    """The README's default column, when the default text is not what to show."""
    repeat: bool = False
    """The flag may be given several times; the values (tuples) are joined."""
    short: str | None = None
    """A one-letter alias (``-q``), for the switches used most."""

    @property
    def env(self) -> str:
        """Return the environment variable that sets this option."""
        return "MAILSINK_" + self.flag.upper().replace("-", "_")

    @property
    def dest(self) -> str:
        """Return the argparse attribute name."""
        return self.flag.replace("-", "_")

    def fields(self) -> tuple[str, ...]:
        """Return the Settings fields this option fills."""
        return (self.field,) if isinstance(self.field, str) else self.field

    def settings(self, value: Any) -> dict[str, Any]:
        """Return the Settings keyword arguments for a parsed value."""
        if isinstance(self.field, str):
            return {self.field: value}
        host_field, port_field = self.field
        if value is None:
            return {port_field: None}
        return {host_field: value[0], port_field: value[1]}


OPTIONS: tuple[Option, ...] = (
    Option(
        "smtp",
        "127.0.0.1:1025",
        "SMTP listen address HOST:PORT (port 0: any free port)",
        ("smtp_host", "smtp_port"),
        _address,
        "HOST:PORT",
    ),
    Option(
        "smtps",
        "off",
        "implicit-TLS SMTP listen address, or off",
        ("smtps_host", "smtps_port"),
        _optional_address,
        "HOST:PORT",
    ),
    Option(
        "http",
        "127.0.0.1:8025",
        "web UI and API listen address, or off",
        ("http_host", "http_port"),
        _optional_address,
        "HOST:PORT",
    ),
    Option(
        "pop3",
        "off",
        "POP3 (with STLS) listen address, e.g. 127.0.0.1:1110, or off",
        ("pop3_host", "pop3_port"),
        _optional_address,
        "HOST:PORT",
    ),
    Option(
        "pop3s",
        "off",
        "implicit-TLS POP3 listen address, e.g. 127.0.0.1:1995, or off",
        ("pop3s_host", "pop3s_port"),
        _optional_address,
        "HOST:PORT",
    ),
    Option(
        "imap",
        "off",
        "IMAP (with STARTTLS) listen address, e.g. 127.0.0.1:1143, or off",
        ("imap_host", "imap_port"),
        _optional_address,
        "HOST:PORT",
    ),
    Option(
        "imaps",
        "off",
        "implicit-TLS IMAP listen address, e.g. 127.0.0.1:1993, or off",
        ("imaps_host", "imaps_port"),
        _optional_address,
        "HOST:PORT",
    ),
    Option(
        "store",
        "memory",
        "'memory', a postgresql:// URL or the path of a SQLite file",
        "store",
        metavar="memory|URL|PATH",
    ),
    Option(
        "store-sync",
        "normal",
        "SQLite synchronous mode: normal survives a killed process, full also a power loss",
        "store_sync",
        metavar="|".join(STORE_SYNC_MODES),
    ),
    Option(
        "max-messages",
        str(COMMAND_MAX_MESSAGES),  # bounded; Settings() keeps 0 (see config.py)
        "keep at most N messages, newest kept (0: unlimited)",
        "max_messages",
        _count,
        "N",
    ),
    Option(
        "max-age",
        "0",
        "prune messages older than this: 3d, 12h, 30m, 90s (0: no age limit)",
        "max_age",
        _duration,
        "DURATION",
    ),
    Option(
        "max-size",
        "25M",
        "largest message accepted, K/M/G suffixes (552 beyond; 0: unlimited)",
        "max_size",
        _size,
        "BYTES",
    ),
    Option(
        "max-recipients",
        "1000",
        "most RCPT TO per message (452 beyond)",
        "max_recipients",
        _recipients,
        "N",
    ),
    Option(
        "idle-timeout",
        "300",
        "seconds an idle SMTP session is kept",
        "idle_timeout",
        _seconds,
        "SECONDS",
    ),
    Option(
        "uvloop",
        True,
        "run the SMTP listener on uvloop when installed (the [fast] extra)",
        "uvloop",
    ),
    Option(
        "max-connections",
        "500",
        "most SMTP connections open at once (421 beyond), and most HTTP connections (429)",
        "max_connections",
        _count,
        "N",
    ),
    Option(
        "max-connections-per-peer",
        "100",
        "most of those from one client address",
        "max_connections_per_peer",
        _count,
        "N",
    ),
    Option(
        "reader-connections",
        "100",
        "most POP3 and IMAP connections open at once, both together",
        "reader_connections",
        _count,
        "N",
    ),
    Option(
        "reader-idle-timeout",
        "1800",
        "seconds an idle POP3 or IMAP session is kept (IMAP IDLE included)",
        "reader_idle_timeout",
        _seconds,
        "SECONDS",
    ),
    Option(
        "hostname", "mailsink", "the name the SMTP server greets with", "hostname", metavar="NAME"
    ),
    Option("tls", True, "offer STARTTLS (a certificate is generated unless given)", "tls"),
    Option(
        "tls-cert",
        None,
        "PEM certificate (chain) for STARTTLS/SMTPS",
        "tls_cert",
        metavar="FILE",
        shown="generated",
    ),
    Option("tls-key", None, "PEM private key for --tls-cert", "tls_key", metavar="FILE"),
    Option(
        "tls-dir",
        None,
        "folder to write a generated certificate to",
        "tls_dir",
        metavar="DIR",
        shown="a temp folder",
    ),
    Option("require-tls", False, "refuse mail before STARTTLS (530)", "require_tls"),
    Option(
        "auth",
        "",
        "require AUTH with these credentials (comma-separated); "
        "by default any credentials are accepted",
        "auth_users",
        _credentials,
        "USER:PASS[,...]",
        shown="any accepted",
    ),
    Option("require-auth", False, "refuse mail before AUTH (530)", "require_auth"),
    Option(
        "allowed-hosts",
        "",
        "extra Host names the web server answers to (comma-separated; *.example.test allowed)",
        "allowed_hosts",
        _names,
        "NAMES",
    ),
    Option(
        "cors-origin",
        "",
        "let pages from this origin (scheme://host[:port], or *) call the API from a browser; "
        "repeat it or separate with commas",
        "cors_origins",
        _names,
        "ORIGIN",
        shown="none",
        repeat=True,
    ),
    Option(
        "ui-auth",
        "",
        "require HTTP basic auth for the UI, API and event stream with these credentials "
        "(comma-separated; /livez and /readyz stay open)",
        "ui_auth",
        _credentials,
        "USER:PASS[,...]",
        shown="none",
    ),
    Option(
        "ui-auth-file",
        None,
        "require HTTP basic auth for the users of this htpasswd file (bcrypt: htpasswd -B)",
        "ui_auth_file",
        metavar="FILE",
    ),
    Option(
        "ui-tls", False, "serve the UI and API over HTTPS (the generated certificate)", "ui_tls"
    ),
    Option(
        "ui-tls-cert",
        None,
        "PEM certificate (chain) for HTTPS; implies --ui-tls",
        "ui_tls_cert",
        metavar="FILE",
    ),
    Option("ui-tls-key", None, "PEM private key for --ui-tls-cert", "ui_tls_key", metavar="FILE"),
    Option(
        "webroot",
        "/",
        "serve the UI and API under this path prefix, for a reverse proxy (e.g. /mail/)",
        "webroot",
        metavar="PATH",
    ),
    Option("label", "", "a name shown in the UI's title", "label", metavar="NAME"),
    Option("quiet", False, "no log line per received message", "quiet", short="q"),
    Option(
        "verbose",
        False,
        "also log SMTP session traces (AUTH secrets masked)",
        "verbose",
        short="v",
    ),
    Option(
        "http-threads",
        "32",
        "web server worker threads; event streams may use all but 4",
        "http_threads",
        _count,
        "N",
    ),
    Option(
        "webhook-url",
        None,
        "POST each new message's summary (JSON, as Mailpit's webhook) to this URL",
        "webhook_url",
        metavar="URL",
        shown="off",
    ),
    Option(
        "webhook-limit",
        "0",
        "most webhook POSTs per second; messages beyond get none (0: no limit)",
        "webhook_limit",
        _rate,
        "N[/s]",
    ),
    Option("metrics", "on", "serve Prometheus metrics at /metrics", "metrics", _on_off, "on|off"),
    Option(
        "max-request-size",
        "26M",
        "largest HTTP request body accepted, K/M/G suffixes (413 beyond)",
        "max_request_bytes",
        _size,
        "BYTES",
    ),
    # Content checks (mailsink.checks): off, or offline, unless asked for.
    Option("link-check", False, "let the link check request the links in mail", "link_check"),
    Option(
        "link-check-allow-private",
        False,
        "let the link check reach loopback and private addresses (tests, intranets)",
        "link_check_allow_private",
    ),
    Option(
        "spamassassin",
        "off",
        "spamd address for the spam check (sa-check), or off",
        "spamassassin",
        _spamd,
        "HOST:PORT",
    ),
    Option(
        "dns-records",
        "",
        'BIND-style records (NAME TXT "value") that answer the auth check\'s DNS first',
        "dns_records",
        _records_file,
        "FILE",
    ),
    Option(
        "dns",
        "on",
        "real DNS for the auth check, for names --dns-records does not list",
        "dns",
        _on_off,
        "on|off",
    ),
    Option(
        "enable-chaos",
        False,
        "serve /api/v1/chaos (Mailpit) and /api/v1/faults: SMTP failures on demand",
        "enable_chaos",
    ),
    # The relay options fill one Settings field, ``relay``, together (see _relay).
    Option(
        "relay",
        None,
        "release and auto-relay through this server: smtp://, smtp+starttls:// or smtps://"
        "[USER:PASS@]HOST[:PORT][?verify=off] (the password is never shown)",
        "relay_url",
        metavar="URL",
        shown="off",
    ),
    Option(
        "relay-config",
        None,
        "the relay's settings and rules from a TOML or YAML file",
        "relay_config",
        metavar="FILE",
    ),
    Option(
        "relay-allow",
        None,
        "regex the recipients of relayed mail must match",
        "relay_allow",
        metavar="REGEX",
        shown="any given address",
    ),
    Option(
        "relay-auto",
        "",
        "relay every new message matching this search, e.g. 'to:@mycompany.com' (repeatable)",
        "relay_auto",
        lambda text: (text,) if text.strip() else (),
        "QUERY",
        repeat=True,
    ),
    Option(
        "relay-auto-to",
        "",
        "send auto-relayed mail to these addresses (comma-separated) instead of its recipients",
        "relay_auto_to",
        _names,
        "ADDRESSES",
        shown="its recipients",
    ),
    Option(
        "relay-sender",
        None,
        "envelope sender of relayed mail",
        "relay_sender",
        metavar="ADDRESS",
        shown="the original",
    ),
)


def _relay(values: dict[str, Any], fail: Callable[[str], NoReturn]) -> None:
    """Replace the relay options in ``values`` by the ``relay`` Settings field."""
    try:
        relay = relay_settings_from_options(
            values.pop("relay_url", None),
            values.pop("relay_config", None),
            values.pop("relay_allow", None),
            values.pop("relay_auto", ()),
            values.pop("relay_auto_to", ()),
            values.pop("relay_sender", None),
        )
    except ValueError as error:
        fail(f"relay: {error}")
    if relay is not None:
        values["relay"] = relay


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser; an option not given on the command line is left out."""
    parser = argparse.ArgumentParser(
        prog="mailsink",
        description="A catch-all SMTP sink for development and tests: accepts every "
        "message, delivers nothing, keeps each one for a browser, a JSON API and pytest.",
        epilog="Every option can also be set as MAILSINK_<OPTION>, "
        "e.g. MAILSINK_SMTP=0.0.0.0:1025.  Subcommands: mailsink sendmail|ingest|dump --help.",
    )
    for option in OPTIONS:
        names = [f"-{option.short}"] if option.short else []
        if isinstance(option.default, bool):
            parser.add_argument(
                *names,
                "--" + option.flag,
                default=argparse.SUPPRESS,
                action=argparse.BooleanOptionalAction,
                help=option.help,
            )
        else:
            parser.add_argument(
                *names,
                "--" + option.flag,
                default=argparse.SUPPRESS,
                type=option.parse,
                action="append" if option.repeat else "store",
                metavar=option.metavar,
                help=option.help,
            )
    parser.add_argument("--version", action="version", version=f"mailsink {__version__}")
    return parser


_NOT_GIVEN = object()
"""The flag is not on the command line (argparse leaves its attribute out: SUPPRESS)."""

_UNSET = object()
"""No flag, variable or default: the Settings field keeps its own default."""


def _parse_env(option: Option, raw: str) -> Any:
    """Parse an option's environment variable (an on/off switch takes 1/0, yes/no, ...)."""
    if isinstance(option.default, bool):
        text = raw.strip().lower()
        if text not in _BOOL_TRUE | _BOOL_FALSE:
            raise argparse.ArgumentTypeError(f"expected 1/0, got {text!r}")
        return text in _BOOL_TRUE
    return option.parse(raw)


def _value(
    option: Option, given: Any, env: Mapping[str, str], fail: Callable[[str], NoReturn]
) -> Any:
    """Return an option's value: the flag's, else the variable's, else the default's."""
    if given is not _NOT_GIVEN:  # a flag given as "off" parses to None, and None counts
        return tuple(item for items in given for item in items) if option.repeat else given
    if option.env in env:
        try:
            return _parse_env(option, env[option.env])
        except argparse.ArgumentTypeError as error:
            fail(f"{option.env}: {error}")
    if isinstance(option.default, str):
        return option.parse(option.default)
    return _UNSET if option.default is None else option.default


def settings_from_args(argv: Sequence[str] | None, env: Mapping[str, str]) -> Settings:
    """Parse the command line (and environment) into Settings."""
    parser = build_parser()
    args = parser.parse_args(argv)
    values: dict[str, Any] = {}
    for option in OPTIONS:
        value = _value(option, getattr(args, option.dest, _NOT_GIVEN), env, parser.error)
        if value is not _UNSET:
            values.update(option.settings(value))
    _relay(values, parser.error)
    try:
        return Settings(**values)
    except SettingsError as error:
        culprit = next((o for o in OPTIONS if error.field in o.fields()), None)
        if culprit is None:
            parser.error(str(error))
        parser.error(f"--{culprit.flag} ({culprit.env}): {error.problem}")


def _cell(text: str) -> str:
    """Escape a Markdown table cell's pipes."""
    return text.replace("|", "\\|")


def options_markdown() -> str:
    """Return the README's table of options, derived from ``OPTIONS``."""
    lines = ["| option | default | meaning |", "|---|---|---|"]
    for option in OPTIONS:
        if isinstance(option.default, bool):
            flag = f"--{option.flag}"
            if option.default:
                flag += f" / --no-{option.flag}"
            if option.short:
                flag = f"-{option.short}, {flag}"
            default = "on" if option.default else "off"
        else:
            flag = f"--{option.flag} {option.metavar}" if option.metavar else f"--{option.flag}"
            default = f"`{option.default}`" if option.default else ""
        default = option.shown or default
        lines.append(f"| `{_cell(flag)}` | {default} | {_cell(option.help)} |")
    return "\n".join(lines) + "\n"
