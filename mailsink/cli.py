"""The ``mailsink`` command: build Settings from flags and environment, run a Sink.

The options themselves, and how flags and ``MAILSINK_*`` variables become
Settings, are the table in ``flags.py``.  ``mailsink sendmail|ingest|dump``
runs a subcommand instead (``mailsink/commands/``); so does ``mailsink``
installed under the name ``sendmail`` (a symlink).
"""

from __future__ import annotations

import importlib
import os
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from mailsink import __version__
from mailsink.activity import configure_logging
from mailsink.commands import SUBCOMMANDS
from mailsink.config import Settings, is_loopback, is_memory_store
from mailsink.connections import raise_open_file_limit
from mailsink.flags import settings_from_args
from mailsink.server import Sink

__all__ = ["main", "settings_from_args", "startup_lines"]


def startup_lines(sink: Sink) -> list[str]:
    """Return what the command prints once every socket is bound."""
    s = sink.settings
    host, port = sink.smtp_address
    lines = [f"mailsink {__version__}: SMTP on {host}:{port}"]
    if sink.listener and sink.listener.smtps_address:
        shost, sport = sink.listener.smtps_address
        lines.append(f"  SMTPS (implicit TLS) on {shost}:{sport}")
    if sink.readers is not None:
        for name, (rhost, rport) in sink.readers.addresses.items():
            lines.append(f"  {name.upper()} on {rhost}:{rport}")
    if sink.web_url:
        lines.append(f"  web UI and API at {sink.web_url}/")
    store = (
        "memory"
        if is_memory_store(s.store)
        else f"SQLite file {s.store} (with {s.store}-blobs/ and {s.store}-index)"
    )
    lines.append(f"  store: {store}")
    if sink.certificate and not s.tls_cert:
        lines.append(f"  TLS certificate (trust it as a CA): {sink.certificate.cert}")
    lines.append(
        "  AUTH: "
        + ("required credentials configured" if s.auth_users else "any credentials accepted")
    )
    lines += _team_host_lines(s)
    for bound, label in (
        (s.smtp_host, "SMTP"),
        (s.http_host if s.http_port is not None else "", "HTTP"),
        *((host, name.upper()) for name, host, _port in s.reader_endpoints()),
    ):
        if bound and not is_loopback(bound):
            lines.append(
                f"  WARNING: {label} is bound to {bound}, reachable from other machines; "
                "captured mail may contain secrets"
            )
    if s.relay is not None:
        rules = len(s.relay.auto)
        lines.append(
            f"  relay: {s.relay.upstream.display()}"
            + (f", {rules} auto-relay rule(s)" if rules else ", release only")
        )
    if s.enable_chaos:
        lines.append("  chaos: /api/v1/chaos and /api/v1/faults enabled")
    lines.append("  ready; Ctrl-C to stop")
    return lines


def _team_host_lines(s: Settings) -> list[str]:
    """Return the lines on the web login and the retention limits."""
    lines = []
    if s.http_port is not None:
        login = "required (basic auth; /livez and /readyz open)" if s.web_auth else "none"
        lines.append(f"  web login: {login}")
    if s.max_age or s.max_messages:
        limits = [f"at most {s.max_messages} messages"] if s.max_messages else []
        limits += [f"none older than {s.max_age:g} s"] if s.max_age else []
        lines.append("  retention: " + ", ".join(limits))
    return lines


def run_subcommand(name: str, argv: Sequence[str]) -> int:
    """Run ``mailsink NAME ARGS...``; the module is imported only now."""
    module = importlib.import_module(SUBCOMMANDS[name])
    status: int = module.main(argv, os.environ)
    return status


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    """Run mailsink (or a subcommand) until Ctrl-C or SIGTERM; return the exit status."""
    if argv is None:
        if Path(sys.argv[0]).name == "sendmail":
            return run_subcommand("sendmail", sys.argv[1:])
        argv = sys.argv[1:]
    if argv and argv[0] in SUBCOMMANDS:
        return run_subcommand(argv[0], argv[1:])
    out = out or sys.stdout
    settings = settings_from_args(argv, os.environ)
    configure_logging(settings.quiet, settings.verbose)
    stop = threading.Event()

    def request_stop(signum: int, _frame: object) -> None:
        stop.set()

    raise_open_file_limit()  # idle sockets must run out of connection places before files
    try:
        sink = Sink(settings).start()
    except OSError as error:
        print(f"mailsink: cannot start: {error}", file=sys.stderr)
        return 1
    except (RuntimeError, ValueError) as error:  # e.g. an unusable --ui-auth-file
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
