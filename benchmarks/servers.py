"""Run one SMTP server kind in this process, for the benchmarks to load from outside.

    python -m benchmarks.servers sink|memory|sqlite [DB_PATH]
    python -m benchmarks.servers postgres URL

Prints ``PORT <n>`` once listening on 127.0.0.1 (a free port), then serves until
stdin closes or SIGTERM.  ``sink`` is the baseline: aiosmtpd's bare ``Sink``
handler (discards every message) with aiosmtpd's default settings, on its own
loop thread exactly as mailsink runs its listener.
"""

from __future__ import annotations

import asyncio
import signal
import sys
import tempfile
import threading

from aiosmtpd.handlers import Sink as AiosmtpdSink
from aiosmtpd.smtp import SMTP


def run_baseline() -> int:
    """Serve aiosmtpd's bare Sink on a free port; return the port."""
    loop = asyncio.new_event_loop()
    ready: list[int] = []
    started = threading.Event()

    def serve() -> None:
        asyncio.set_event_loop(loop)
        server = loop.run_until_complete(
            loop.create_server(lambda: SMTP(AiosmtpdSink(), loop=loop), "127.0.0.1", 0)
        )
        ready.append(server.sockets[0].getsockname()[1])
        started.set()
        loop.run_forever()

    threading.Thread(target=serve, daemon=True).start()
    started.wait(10)
    return ready[0]


def run_mailsink(store: str) -> int:
    """Serve mailsink (no web server, no TLS) on a free port; return the port."""
    from mailsink.config import Settings
    from mailsink.server import Sink

    sink = Sink(Settings(smtp_port=0, http_port=None, tls=False, store=store)).start()
    return sink.smtp_address[1]


def main() -> None:
    kind = sys.argv[1]
    if kind == "sink":
        port = run_baseline()
    elif kind == "memory":
        port = run_mailsink("memory")
    elif kind == "sqlite":
        path = sys.argv[2] if len(sys.argv) > 2 else tempfile.mktemp(suffix=".db")
        port = run_mailsink(path)
    elif kind == "postgres":
        port = run_mailsink(sys.argv[2])
    else:
        raise SystemExit(f"unknown server kind {kind!r}")
    print(f"PORT {port}", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()
    stop.wait()


if __name__ == "__main__":
    main()
