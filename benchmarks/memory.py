"""Resident memory of the memory store: 10,000 x 1 KB and 1,000 x 100 KB messages.

    python -m benchmarks.memory

Each case runs in a fresh process: a Sink (memory store, no web server) is
started, its resident size taken as the base, then messages are sent to it
over SMTP (kept connection) and the resident size is read again.  Reported:
(RSS after - base) / raw bytes stored.  The target is <= 1.5x plus the base.
"""

from __future__ import annotations

import gc
import json
import random
import smtplib
import string
import subprocess
import sys
from pathlib import Path

from benchmarks.results_file import save

ROOT = Path(__file__).resolve().parent.parent


def rss_bytes() -> int:
    """Return this process's resident set size."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


def message(size: int, n: int, rng: random.Random) -> bytes:
    """Return a plausible message of about ``size`` bytes with varied words."""
    words = ["".join(rng.choices(string.ascii_lowercase, k=rng.randint(2, 9))) for _ in range(50)]
    head = (
        f"From: Sender {n} <sender{n}@example.test>\r\nTo: user{n}@example.test\r\n"
        f"Subject: Message number {n} {rng.choice(words)}\r\n"
        f"Message-ID: <{n}.{rng.random()}@example.test>\r\n"
        "Date: Tue, 01 Oct 2024 10:00:00 +0000\r\n\r\n"
    ).encode()
    lines = []
    total = len(head)
    while total < size:
        line = " ".join(rng.choices(words, k=11)).encode() + b"\r\n"
        lines.append(line)
        total += len(line)
    return head + b"".join(lines)


def measure(count: int, size: int) -> dict[str, float]:
    """Run in this process: start a sink, fill it, return the figures."""
    from mailsink.config import Settings
    from mailsink.server import Sink

    sink = Sink(Settings(smtp_port=0, http_port=None, tls=False)).start()
    rng = random.Random(1)
    gc.collect()
    base = rss_bytes()
    raw_total = 0
    with smtplib.SMTP(*sink.smtp_address) as client:
        for n in range(count):
            raw = message(size, n, rng)
            raw_total += len(raw)
            client.sendmail("sender@example.test", [f"user{n}@example.test"], raw)
    gc.collect()
    grown = rss_bytes() - base
    assert sink.store.count() == count
    sink.stop()
    return {
        "messages": count,
        "size": size,
        "base_mb": base / 1e6,
        "raw_mb": raw_total / 1e6,
        "growth_mb": grown / 1e6,
        "ratio": grown / raw_total,
    }


def main() -> None:
    if len(sys.argv) == 3:
        print(json.dumps(measure(int(sys.argv[1]), int(sys.argv[2]))))
        return
    print(f"{'case':<18}{'base MB':>9}{'raw MB':>9}{'growth MB':>11}{'x raw':>8}")
    rows = []
    for count, size in ((10_000, 1024), (1_000, 100 * 1024)):
        out = subprocess.run(
            [sys.executable, "-m", "benchmarks.memory", str(count), str(size)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        r = json.loads(out)
        rows.append(r)
        case = f"{count} x {size // 1024} KB"
        print(
            f"{case:<18}{r['base_mb']:>9.1f}{r['raw_mb']:>9.1f}{r['growth_mb']:>11.1f}"
            f"{r['ratio']:>7.2f}x"
        )
    print(f"results: {save('memory', rows)}")


if __name__ == "__main__":
    main()
