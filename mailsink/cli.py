"""The ``mailsink`` command: build Settings from flags and environment, run a Sink.

The options themselves, and how flags and ``MAILSINK_*`` variables become
Settings, are the table in ``flags.py``.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Sequence
from typing import TextIO

from mailsink import __version__
from mailsink.config import is_loopback, is_memory_store
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


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    """Run mailsink until Ctrl-C or SIGTERM; return the exit status."""
    out = out or sys.stdout
    settings = settings_from_args(argv, os.environ)
    stop = threading.Event()

    def request_stop(signum: int, _frame: object) -> None:
        stop.set()

    raise_open_file_limit()  # idle sockets must run out of connection places before files
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
