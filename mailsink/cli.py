"""The ``mailsink`` command: build Settings from flags and environment, run a Sink.

Every flag can also be given as an environment variable ``MAILSINK_<FLAG>``
(upper case, dashes as underscores: ``--max-size`` is ``MAILSINK_MAX_SIZE``);
a flag on the command line wins over the environment.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from collections.abc import Mapping, Sequence
from typing import Any, TextIO

from mailsink import __version__
from mailsink.config import DEFAULT_MAX_SIZE, Settings, is_loopback, split_host_port
from mailsink.server import Sink
from mailsink.webhook import check_url

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
    except ValueError:
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


def _address(text: str) -> tuple[str, int]:
    try:
        return split_host_port(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _optional_address(text: str) -> tuple[str, int] | None:
    if text.strip().lower() in ("off", "none", "no", ""):
        return None
    return _address(text)


def _credentials(text: str) -> tuple[str, str]:
    user, sep, password = text.partition(":")
    if not sep or not user:
        raise argparse.ArgumentTypeError("expected USER:PASSWORD")
    return user, password


def build_parser(env: Mapping[str, str]) -> argparse.ArgumentParser:
    """Return the argument parser, with defaults taken from MAILSINK_* variables."""
    parser = argparse.ArgumentParser(
        prog="mailsink",
        description="A catch-all SMTP sink for development and tests: accepts every "
        "message, delivers nothing, keeps each one for a browser, a JSON API and pytest.",
        epilog="Every option can also be set as MAILSINK_<OPTION>, "
        "e.g. MAILSINK_SMTP=0.0.0.0:1025.",
    )

    def env_default(flag: str, fallback: Any) -> Any:
        return env.get("MAILSINK_" + flag.upper().replace("-", "_"), fallback)

    def add(flag: str, fallback: Any, help_text: str, **kw: Any) -> None:
        parser.add_argument("--" + flag, default=env_default(flag, fallback), help=help_text, **kw)

    def add_bool(flag: str, fallback: bool, help_text: str) -> None:
        raw = str(env_default(flag, "1" if fallback else "0")).strip().lower()
        if raw not in _BOOL_TRUE | _BOOL_FALSE:
            parser.error(f"MAILSINK_{flag.upper().replace('-', '_')}: expected 1/0, got {raw!r}")
        parser.add_argument(
            "--" + flag,
            default=raw in _BOOL_TRUE,
            action=argparse.BooleanOptionalAction,
            help=help_text,
        )

    add(
        "smtp",
        "127.0.0.1:1025",
        "SMTP listen address HOST:PORT (port 0: any free port)",
        type=_address,
        metavar="HOST:PORT",
    )
    add(
        "smtps",
        "off",
        "implicit-TLS SMTP listen address, or off (default)",
        type=_optional_address,
        metavar="HOST:PORT",
    )
    add(
        "http",
        "127.0.0.1:8025",
        "web UI and API listen address, or off",
        type=_optional_address,
        metavar="HOST:PORT",
    )
    add("store", "memory", "'memory' (default) or the path of a SQLite file", metavar="memory|PATH")
    add(
        "store-sync",
        "normal",
        "SQLite synchronous mode: normal survives a killed process, full also a power loss",
        choices=["normal", "full"],
    )
    add(
        "max-messages",
        "0",
        "keep at most N messages, newest kept (0: unlimited)",
        type=_count,
        metavar="N",
    )
    add(
        "max-size",
        str(DEFAULT_MAX_SIZE),
        "largest message accepted, e.g. 25M (552 beyond)",
        type=_size,
        metavar="BYTES",
    )
    add("max-recipients", "1000", "most RCPT TO per message (452 beyond)", type=_count, metavar="N")
    add(
        "idle-timeout", "300", "seconds an idle SMTP session is kept", type=float, metavar="SECONDS"
    )
    add("hostname", "mailsink", "the name the SMTP server greets with")
    add_bool("tls", True, "offer STARTTLS (a certificate is generated unless given)")
    add("tls-cert", None, "PEM certificate (chain) for STARTTLS/SMTPS", metavar="FILE")
    add("tls-key", None, "PEM private key for --tls-cert", metavar="FILE")
    add(
        "tls-dir",
        None,
        "folder to write a generated certificate to (default: a temp folder)",
        metavar="DIR",
    )
    add_bool("require-tls", False, "refuse mail before STARTTLS (530)")
    add(
        "auth",
        None,
        "require AUTH with these credentials (comma-separated USER:PASSWORD); "
        "by default any credentials are accepted",
        metavar="USER:PASS[,...]",
    )
    add_bool("require-auth", False, "refuse mail before AUTH (530)")
    add(
        "allowed-hosts",
        "",
        "extra Host names the web server answers to (comma-separated; *.example.test allowed)",
        metavar="NAMES",
    )
    add("webhook-url", None, "POST each new message's summary (JSON) to this URL", metavar="URL")
    add(
        "webhook-limit",
        "0",
        "most webhook POSTs per second (0: no limit)",
        type=_rate,
        metavar="N[/s]",
    )
    add("metrics", "on", "serve Prometheus metrics at /metrics", choices=("on", "off"))
    parser.add_argument("--version", action="version", version=f"mailsink {__version__}")
    return parser


def _rate(text: str) -> float:
    """Parse ``N`` or ``N/s`` (per second) into a non-negative number."""
    number = text.strip().removesuffix("/s")
    try:
        value = float(number)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected N or N/s, got {text!r}") from None
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"the rate must be 0 or more, got {text!r}")
    return value


def settings_from_args(argv: Sequence[str] | None, env: Mapping[str, str]) -> Settings:
    """Parse the command line (and environment) into Settings."""
    parser = build_parser(env)
    args = parser.parse_args(argv)
    auth_users: tuple[tuple[str, str], ...] = ()
    if args.auth:
        try:
            auth_users = tuple(_credentials(c) for c in str(args.auth).split(",") if c)
        except argparse.ArgumentTypeError as error:
            parser.error(f"--auth: {error}")
    if args.tls_key and not args.tls_cert:
        parser.error("--tls-key needs --tls-cert")
    if args.webhook_url:
        try:
            check_url(args.webhook_url)
        except ValueError as error:
            parser.error(f"--webhook-url: {error}")
    smtps = args.smtps
    http = args.http
    return Settings(
        smtp_host=args.smtp[0],
        smtp_port=args.smtp[1],
        smtps_host=smtps[0] if smtps else "127.0.0.1",
        smtps_port=smtps[1] if smtps else None,
        http_host=http[0] if http else "127.0.0.1",
        http_port=http[1] if http else None,
        store=args.store,
        store_sync=args.store_sync,
        max_messages=args.max_messages,
        max_size=args.max_size,
        max_recipients=max(1, args.max_recipients),
        idle_timeout=args.idle_timeout,
        hostname=args.hostname,
        tls=args.tls,
        tls_cert=args.tls_cert,
        tls_key=args.tls_key,
        tls_dir=args.tls_dir,
        require_tls=args.require_tls,
        auth_users=auth_users,
        require_auth=args.require_auth,
        allowed_hosts=tuple(h.strip() for h in str(args.allowed_hosts).split(",") if h.strip()),
        webhook_url=args.webhook_url or None,
        webhook_limit=args.webhook_limit,
        metrics=args.metrics == "on",
    )


def startup_lines(sink: Sink) -> list[str]:
    """Return what the command prints once every socket is bound."""
    s = sink.settings
    host, port = sink.smtp_address
    lines = [f"mailsink {__version__}: SMTP on {host}:{port}"]
    if sink.listener and sink.listener.smtps_address:
        shost, sport = sink.listener.smtps_address
        lines.append(f"  SMTPS (implicit TLS) on {shost}:{sport}")
    if sink.web_url:
        lines.append(f"  web UI and API at {sink.web_url}/")
    store = (
        "memory"
        if s.store in ("memory", "", ":memory:")
        else f"SQLite file {s.store} (with {s.store}-blobs/ and {s.store}-index)"
    )
    lines.append(f"  store: {store}")
    if sink.certificate and not s.tls_cert:
        lines.append(f"  TLS certificate (trust it as a CA): {sink.certificate.cert}")
    lines.append(
        "  AUTH: "
        + ("required credentials configured" if s.auth_users else "any credentials accepted")
    )
    for bound, label in (
        (s.smtp_host, "SMTP"),
        (s.http_host if s.http_port is not None else "", "HTTP"),
    ):
        if bound and not is_loopback(bound):
            lines.append(
                f"  WARNING: {label} is bound to {bound}, reachable from other machines; "
                "captured mail may contain secrets"
            )
    lines.append("  ready; Ctrl-C to stop")
    return lines


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    """Run mailsink until Ctrl-C or SIGTERM; return the exit status."""
    out = out or sys.stdout
    settings = settings_from_args(argv, os.environ)
    stop = threading.Event()

    def request_stop(signum: int, _frame: object) -> None:
        stop.set()

    try:
        sink = Sink(settings).start()
    except OSError as error:
        print(f"mailsink: cannot start: {error}", file=sys.stderr)
        return 1
    except RuntimeError as error:
        print(f"mailsink: {error}", file=sys.stderr)
        return 1
    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        for line in startup_lines(sink):
            print(line, file=out)
        out.flush()
        while not stop.wait(0.5):
            pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        sink.stop()
        print("mailsink: stopped", file=out)
        out.flush()
    return 0
