"""Run one SMTP server kind in this process, for the benchmarks to load from outside.

    python -m benchmarks.servers sink|memory|memory-asyncio|sqlite|sqlite-asyncio [DB_PATH]
    python -m benchmarks.servers postgres URL

Prints ``PORT <n>`` once listening on 127.0.0.1 (a free port), then serves until
stdin closes or SIGTERM.  ``sink`` is the baseline: aiosmtpd's bare ``Sink``
handler (discards every message) with aiosmtpd's default settings, on its own
loop thread exactly as mailsink runs its listener.

With ``$BENCH_PROFILE`` set to a path, every thread started after this
module loads runs under ``cProfile`` and the profiles are written on exit
as ``<path>.<thread name>.pstats`` (py-spy cannot sample this sandbox's
processes; cProfile's own overhead inflates small calls, so read its shares,
not its absolute times).
"""

from __future__ import annotations

import asyncio
import cProfile
import os
import signal
import sys
import tempfile
import threading

from aiosmtpd.handlers import Sink as AiosmtpdSink
from aiosmtpd.smtp import SMTP

_PROFILES: list[tuple[str, cProfile.Profile]] = []


def profile_threads() -> None:
    """Run every thread started from now on under cProfile (see the module docstring)."""
    original = threading.Thread.run

    def run(thread: threading.Thread) -> None:
        profile = cProfile.Profile()
        _PROFILES.append((thread.name, profile))
        profile.runcall(original, thread)

    threading.Thread.run = run  # type: ignore[method-assign]


def dump_profiles(path: str) -> None:
    """Write each thread's profile beside ``path``."""
    for i, (name, profile) in enumerate(_PROFILES):
        profile.create_stats()
        profile.dump_stats(f"{path}.{i}-{name.replace(' ', '_')}.pstats")


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


def run_mailsink(store: str, uvloop: bool = True) -> int:
    """Serve mailsink (no web server, no TLS) on a free port; return the port.

    The listener runs on uvloop when it is installed (the ``[fast]`` extra), as
    mailsink does by default; ``uvloop=False`` is ``--no-uvloop``.
    """
    from mailsink.config import Settings
    from mailsink.server import Sink

    settings = Settings(smtp_port=0, http_port=None, tls=False, store=store, uvloop=uvloop)
    sink = Sink(settings).start()
    return sink.smtp_address[1]


def main() -> None:
    kind = sys.argv[1]
    profile_path = os.environ.get("BENCH_PROFILE")
    if profile_path:
        profile_threads()
    if kind == "sink":
        port = run_baseline()
    elif kind == "memory":
        port = run_mailsink("memory")
    elif kind == "memory-asyncio":  # --no-uvloop: asyncio's own loop
        port = run_mailsink("memory", uvloop=False)
    elif kind in ("sqlite", "sqlite-asyncio"):
        path = sys.argv[2] if len(sys.argv) > 2 else tempfile.mktemp(suffix=".db")
        port = run_mailsink(path, uvloop=kind == "sqlite")
    elif kind == "postgres":
        port = run_mailsink(sys.argv[2])
    else:
        raise SystemExit(f"unknown server kind {kind!r}")
    print(f"PORT {port}", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()
    stop.wait()
    if profile_path:
        dump_profiles(profile_path)


if __name__ == "__main__":
    main()
