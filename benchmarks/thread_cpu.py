"""Server CPU per message, split by thread: where a store's extra cost is spent.

    python -m benchmarks.thread_cpu [--store memory|sqlite] [--message newsletter]
        [--messages 300] [--no-uvloop]

Runs a sink in this process (no web server, no TLS), has Postfix's
``smtp-source`` send ``--messages`` copies of a ``realistic.py`` message over
10 sessions with a connection per message, waits a moment for the background
threads (the SQLite store's text index and checkpointer) to catch up, and
prints each thread's CPU per message, read from ``/proc/self/task``.  CPU
time, unlike a rate, holds on a shared machine.  The SQLite store's extra cost
on a newsletter is its text-index thread (issue 19).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from benchmarks import realistic
from benchmarks.smtp_ingest import POSTFIX_DIR, smtp_source

TICKS = os.sysconf("SC_CLK_TCK")


def thread_cpu() -> dict[str, float]:
    """Return the CPU seconds (user + system) each live thread of this process has used."""
    seconds = {}
    for thread in threading.enumerate():
        try:
            stat = Path(f"/proc/self/task/{thread.native_id}/stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        seconds[thread.name] = (int(fields[11]) + int(fields[12])) / TICKS
    return seconds


def main() -> None:
    from mailsink.config import Settings
    from mailsink.server import Sink

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--store", default="sqlite", choices=["memory", "sqlite"])
    parser.add_argument("--message", default="newsletter", choices=["newsletter", "large_mail"])
    parser.add_argument("--messages", type=int, default=300)
    parser.add_argument("--no-uvloop", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        eml = Path(tmp) / "message.eml"
        eml.write_bytes(realistic.as_source_file(getattr(realistic, args.message)()))
        store = str(Path(tmp) / "bench.db") if args.store == "sqlite" else "memory"
        settings = Settings(
            smtp_port=0, http_port=None, tls=False, store=store, uvloop=not args.no_uvloop
        )
        sink = Sink(settings).start()
        try:
            host, port = sink.smtp_address
            command = [*smtp_source(), "-s", "10", "-m", str(args.messages), "-F", str(eml)]
            command += ["-f", "load@bench.test", "-t", "sink@bench.test", f"{host}:{port}"]
            env = {**os.environ, "LD_LIBRARY_PATH": str(POSTFIX_DIR / "usr/lib/postfix")}
            before = thread_cpu()
            started = time.perf_counter()
            subprocess.run(command, env=env, check=True, capture_output=True, timeout=600)
            seconds = time.perf_counter() - started
            time.sleep(1.5)  # the index and checkpoint threads finish their share
            after = thread_cpu()
        finally:
            sink.stop()
    n = args.messages
    print(f"{args.store}, {args.message} x{n}: {n / seconds:.0f} msg/s; CPU ms per message:")
    spent = {name: after[name] - before.get(name, 0.0) for name in after}
    for name, cpu in sorted(spent.items(), key=lambda item: -item[1]):
        if cpu > 0:
            print(f"  {name:<28}{cpu * 1000 / n:7.2f}")
    print(f"  {'all threads':<28}{sum(spent.values()) * 1000 / n:7.2f}")


if __name__ == "__main__":
    main()
