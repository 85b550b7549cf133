"""SMTP delivery latency while an attacker works on the sink, against a baseline without one.

    python -m benchmarks.under_attack ATTACK [--store memory|sqlite] [--seconds S]
                                             [--source DIR]

Runs ``mailsink`` as its own process (from ``--source``, a source tree such
as another checkout, to measure a version before a fix), then delivers 1 KB
messages one at a time, a connection each, and times each from connect to
the 250 reply: first alone (the baseline), then while the attack runs.
Prints p50/p95/max in milliseconds for both phases; the numbers in issue 11's
note come from here.

Attacks (issue 11's items):

* ``mime``: two clients loop sending small MIME bombs (a 229 KB
  Content-Type of 24,000 parameters; 20,000 header lines).  (item 3)
* ``tags``: ``PUT /api/v1/tags`` with every stored ID (``--messages``, stored
  first) and ``--tags`` tags (5,000; 100 is the most a fixed sink takes), in
  a loop.  (item 2)
* ``idle``: opens ``--connections`` idle SMTP and HTTP connections and holds
  them.  (item 6; the good deliveries that fail are counted too)
* ``eightbit``: two clients loop an 8-bit MAIL FROM then DATA.  (item 4;
  good deliveries answered 451 are counted as failures)
"""

from __future__ import annotations

import argparse
import json
import os
import smtplib
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

from benchmarks.latency import percentile

PARAM_BOMB = (
    "From: a@x.test\r\nSubject: bomb\r\nContent-Type: text/plain"
    + "".join(f';p{i}="v"' for i in range(24_000))
    + "\r\n\r\nbody\r\n"
).encode()
HEADER_BOMB = (
    b"From: a@x.test\r\nSubject: headers\r\n"
    + b"".join(b"X-H%d: v\r\n" % i for i in range(20_000))
    + b"\r\nbody\r\n"
)
GOOD = b"From: a@x.test\r\nTo: b@x.test\r\nSubject: good\r\n\r\n" + b"x" * 1000 + b"\r\n"


def start(store: str, source: str | None) -> tuple[subprocess.Popen[str], tuple[str, int], str]:
    """Start mailsink; return the process, its SMTP address and web URL."""
    env = dict(os.environ)
    process = subprocess.Popen(
        [sys.executable, "-m", "mailsink", "--smtp", "127.0.0.1:0", "--http", "127.0.0.1:0",
         "--no-tls", "--store", store],
        stdout=subprocess.PIPE, text=True, cwd=source, env=env,
    )  # fmt: skip
    assert process.stdout is not None
    smtp: tuple[str, int] | None = None
    web = ""
    for line in process.stdout:
        if "SMTP on " in line:
            host, _, port = line.split("SMTP on ")[1].strip().rpartition(":")
            smtp = (host, int(port))
        if "web UI and API at " in line:
            web = line.split(" at ")[1].strip().rstrip("/")
        if "ready;" in line:
            break
    assert smtp is not None, "mailsink did not start"
    return process, smtp, web


def deliver(smtp: tuple[str, int]) -> float | None:
    """Deliver one good message; return the seconds it took, None if it was refused."""
    began = time.perf_counter()
    try:
        with smtplib.SMTP(*smtp, timeout=60) as client:
            client.sendmail("good@x.test", ["b@x.test"], GOOD)
    except (smtplib.SMTPException, OSError):
        return None
    return time.perf_counter() - began


def measure(smtp: tuple[str, int], seconds: float) -> tuple[list[float], int]:
    """Deliver back to back for ``seconds``; return the latencies and the failures."""
    times: list[float] = []
    failed = 0
    until = time.monotonic() + seconds
    while time.monotonic() < until:
        took = deliver(smtp)
        if took is None:
            failed += 1
            time.sleep(0.05)
        else:
            times.append(took)
    return times, failed


def _loop(stop: threading.Event, action: Callable[[], None]) -> None:
    while not stop.is_set():
        try:
            action()
        except (OSError, smtplib.SMTPException):
            time.sleep(0.01)


def _send_raw(smtp: tuple[str, int], raw: bytes) -> None:
    with smtplib.SMTP(*smtp, timeout=120) as client:
        client.sendmail("attacker@x.test", ["victim@x.test"], raw)


def _eightbit(smtp: tuple[str, int]) -> None:
    with socket.create_connection(smtp, timeout=30) as sock:
        stream = sock.makefile("rb")
        stream.readline()
        sock.sendall(b"HELO x\r\nMAIL FROM:<\xff\xfe@x.test>\r\nRCPT TO:<b@x.test>\r\nDATA\r\n")
        for _ in range(4):
            stream.readline()
        sock.sendall(b"Subject: 8bit\r\n\r\nx\r\n.\r\nQUIT\r\n")
        stream.readline()


def _put_tags(web: str, ids: list[str], tags: int) -> None:
    body = json.dumps({"IDs": ids, "Tags": [f"t{i}" for i in range(tags)]}).encode()
    request = urllib.request.Request(f"{web}/api/v1/tags", data=body, method="PUT")
    request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=300) as response:
        response.read()


def _all_ids(web: str) -> list[str]:
    ids: list[str] = []
    start_at = 0
    while True:
        with urllib.request.urlopen(f"{web}/api/v1/messages?start={start_at}&limit=1000") as r:
            page = json.load(r)["messages"]
        if not page:
            return ids
        ids.extend(m["ID"] for m in page)
        start_at += len(page)


def run_attack(
    attack: str, smtp: tuple[str, int], web: str, args: argparse.Namespace, stop: threading.Event
) -> list[threading.Thread | socket.socket]:
    """Start the attack; return what to join or close afterwards."""
    held: list[threading.Thread | socket.socket] = []
    actions: list[Callable[[], None]] = []
    if attack == "mime":
        actions = [lambda: _send_raw(smtp, PARAM_BOMB), lambda: _send_raw(smtp, HEADER_BOMB)]
    elif attack == "eightbit":
        actions = [lambda: _eightbit(smtp)] * 2
    elif attack == "tags":
        ids = _all_ids(web)
        actions = [lambda: _put_tags(web, ids, args.tags)]
    elif attack == "idle":
        host, port = web.removeprefix("http://").rsplit(":", 1)
        for target in [smtp, (host, int(port))] * (args.connections // 2):
            try:
                held.append(socket.create_connection(target, timeout=5))
            except OSError:
                break
    for action in actions:
        thread = threading.Thread(target=_loop, args=(stop, action), daemon=True)
        thread.start()
        held.append(thread)
    return held


def report(label: str, times: list[float], failed: int) -> dict[str, float]:
    """Print and return p50/p95/max of a phase in milliseconds."""
    if not times:
        print(f"{label:>9}: no delivery succeeded ({failed} failed)")
        return {"failed": failed}
    row = {
        "n": len(times),
        "p50_ms": percentile(times, 0.5) * 1000,
        "p95_ms": percentile(times, 0.95) * 1000,
        "max_ms": max(times) * 1000,
        "failed": failed,
    }
    print(
        f"{label:>9}: n={row['n']:<5} p50 {row['p50_ms']:8.1f} ms  p95 {row['p95_ms']:8.1f} ms"
        f"  max {row['max_ms']:8.1f} ms  failed {failed}"
    )
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("attack", choices=["mime", "tags", "idle", "eightbit"])
    parser.add_argument("--store", default="sqlite")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--connections", type=int, default=300)
    parser.add_argument("--tags", type=int, default=5_000, help="tags per PUT (tags attack)")
    parser.add_argument("--source", help="run mailsink from this source tree")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        store = "memory" if args.store == "memory" else str(Path(tmp) / "mail.db")
        process, smtp, web = start(store, args.source)
        try:
            if args.attack == "tags":
                with smtplib.SMTP(*smtp) as client:
                    for _ in range(args.messages):
                        client.sendmail("seed@x.test", ["b@x.test"], GOOD)
            report("baseline", *measure(smtp, args.seconds))
            stop = threading.Event()
            held = run_attack(args.attack, smtp, web, args, stop)
            time.sleep(0.5)
            report("attack", *measure(smtp, args.seconds))
            stop.set()
            for item in held:
                if isinstance(item, socket.socket):
                    item.close()
        finally:
            process.terminate()
            process.wait(timeout=30)


if __name__ == "__main__":
    main()
