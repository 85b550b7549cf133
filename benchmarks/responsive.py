"""Is the web side responsive while the listener is under full load?

    python -m benchmarks.responsive [--messages N] [--store memory|sqlite]

Runs ``mailsink`` as its own process, then requests the first page of the
list (``GET /api/v1/messages?limit=50``) back to back: first idle, then
while ``smtp-source`` sends 1 KB messages over 10 sessions, a connection
per message.  Reports p50/p95/max of the list requests in both phases, and
the ingest rate reached meanwhile.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

from benchmarks.latency import percentile
from benchmarks.results_file import save
from benchmarks.smtp_ingest import POSTFIX_DIR, smtp_source


def start(store: str) -> tuple[subprocess.Popen[str], int, str]:
    """Start mailsink; return the process, its SMTP port and its web URL."""
    process = subprocess.Popen(
        [sys.executable, "-m", "mailsink", "--smtp", "127.0.0.1:0", "--http", "127.0.0.1:0",
         "--no-tls", "--store", store],
        stdout=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    assert process.stdout is not None
    text = ""
    while "ready;" not in text:
        line = process.stdout.readline()
        if not line:
            raise RuntimeError(f"mailsink did not start: {text}")
        text += line
    smtp = re.search(r"SMTP on \S+:(\d+)", text)
    web = re.search(r"web UI and API at (\S+?)/?\n", text)
    assert smtp and web
    return process, int(smtp.group(1)), web.group(1)


def list_latencies(url: str, stop: threading.Event, out: list[float]) -> None:
    """Request the first page until told to stop, noting each latency in ms."""
    while not stop.is_set():
        started = time.perf_counter()
        with urllib.request.urlopen(f"{url}/api/v1/messages?limit=50", timeout=30) as r:
            r.read()
        out.append((time.perf_counter() - started) * 1000)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--store", default="memory", choices=["memory", "sqlite"])
    args = parser.parse_args()
    store = "memory" if args.store == "memory" else str(Path(tempfile.mkdtemp()) / "r.db")
    process, port, url = start(store)
    try:
        idle: list[float] = []
        stop = threading.Event()
        worker = threading.Thread(target=list_latencies, args=(url, stop, idle))
        worker.start()
        time.sleep(3)
        stop.set()
        worker.join()
        busy: list[float] = []
        stop = threading.Event()
        worker = threading.Thread(target=list_latencies, args=(url, stop, busy))
        worker.start()
        env = {**os.environ, "LD_LIBRARY_PATH": str(POSTFIX_DIR / "usr/lib/postfix")}
        started = time.perf_counter()
        subprocess.run(
            [*smtp_source(), "-s", "10", "-m", str(args.messages), "-l", "1024",
             "-f", "a@bench.test", "-t", "b@bench.test", f"127.0.0.1:{port}"],
            env=env, check=True, capture_output=True,
        )  # fmt: skip
        rate = args.messages / (time.perf_counter() - started)
        stop.set()
        worker.join()
    finally:
        process.terminate()
        process.wait(10)
    print(f"{args.store} store; GET /api/v1/messages?limit=50, ms")
    print(f"{'phase':<34}{'n':>6}{'p50':>8}{'p95':>8}{'max':>8}")
    rows = {}
    for name, values in (("idle", idle), (f"under load ({rate:.0f} msg/s ingested)", busy)):
        rows[name] = {
            "requests": len(values),
            "p50_ms": statistics.median(values),
            "p95_ms": percentile(values, 0.95),
            "max_ms": max(values),
        }
        print(
            f"{name:<34}{len(values):>6}{statistics.median(values):>8.1f}"
            f"{percentile(values, 0.95):>8.1f}{max(values):>8.1f}"
        )
    print(f"results: {save(f'responsive_{args.store}', rows)}")


if __name__ == "__main__":
    main()
