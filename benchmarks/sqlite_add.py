"""The SQLite store's own CPU per message, this checkout against another, alternating.

    python -m benchmarks.sqlite_add [/tmp/before] [--message newsletter|large_mail|small_mail]
        [--messages 2000] [--rounds 3] [--batch 1]

Each round runs a fresh child process per tree (its own ``mailsink/`` first on
the path), which summarises one ``realistic.py`` message once, then times
:meth:`SQLiteStore.add` of ``--messages`` copies (``--batch`` per call, as the
SMTP loop hands them over) with the calling thread's CPU clock, and the text
index thread's CPU until it has indexed them all.  What the SMTP loop spends
around the store (DATA, the outline, the summary) is left out: this is what
the SQLite store costs beyond the memory store (issue 19).  Thread CPU holds
on a shared machine better than a rate does; the order of the trees is
swapped every round and the medians are compared.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TICKS = os.sysconf("SC_CLK_TCK")


def _thread_seconds(name: str) -> float:
    """Return the CPU seconds the live thread of this name has used (0 if none)."""
    for thread in threading.enumerate():
        if thread.name == name and thread.native_id is not None:
            stat = Path(f"/proc/self/task/{thread.native_id}/stat").read_text()
            fields = stat.rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / TICKS
    return 0.0


def child(message: str, count: int, batch: int) -> None:
    """Time the adds in this process and print the figures as JSON (run by :func:`main`)."""
    from benchmarks import realistic
    from mailsink.message import Envelope, new_id, summarize
    from mailsink.store.base import Incoming
    from mailsink.store.sqlite.store import SQLiteStore

    raw = realistic.small_mail(1) if message == "small_mail" else getattr(realistic, message)()
    envelope = Envelope("load@bench.test", ("sink@bench.test",), "bench", "127.0.0.1")
    summary = summarize(raw, envelope)
    with tempfile.TemporaryDirectory() as tmp:
        store = SQLiteStore(Path(tmp) / "bench.db").start()
        try:
            warm = [Incoming(new_id(), time.time(), raw, envelope, summary) for _ in range(200)]
            store.add(warm)
            store.wait_indexed(60)
            index_before = _thread_seconds("mailsink-index")
            spent = 0.0
            for _ in range(0, count, batch):
                now = time.time()
                items = [Incoming(new_id(), now, raw, envelope, summary) for _ in range(batch)]
                started = time.thread_time()
                store.add(items)
                spent += time.thread_time() - started
            store.wait_indexed(120)
            index = _thread_seconds("mailsink-index") - index_before
        finally:
            store.close()
    print(json.dumps({"add_us": spent * 1e6 / count, "index_us": index * 1e6 / count}))


def run(tree: Path, args: argparse.Namespace) -> dict[str, float]:
    """Run one child with ``tree``'s code first on the path; return its figures."""
    # As a script, so that the other tree needs no copy of this file.
    command = [sys.executable, str(Path(__file__).resolve()), "--child"]
    command += ["--message", args.message, "--messages", str(args.messages)]
    command += ["--batch", str(args.batch)]
    env = {**os.environ, "PYTHONPATH": str(tree)}
    done = subprocess.run(command, env=env, cwd=tree, check=True, capture_output=True, text=True)
    figures: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("before", type=Path, nargs="?", help="the other checkout")
    parser.add_argument(
        "--message", default="newsletter", choices=["newsletter", "large_mail", "small_mail"]
    )
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.message, args.messages, args.batch)
        return
    trees = {"after": ROOT} if args.before is None else {"before": args.before.resolve()}
    trees["after"] = ROOT
    results: dict[str, list[dict[str, float]]] = {name: [] for name in trees}
    for round_no in range(args.rounds):
        order = list(trees) if round_no % 2 == 0 else list(reversed(trees))
        for name in order:
            figures = run(trees[name], args)
            results[name].append(figures)
            load = os.getloadavg()[0]
            print(
                f"round {round_no + 1} {name:<7} add {figures['add_us']:7.1f} us  "
                f"index {figures['index_us']:7.1f} us  (load {load:.2f})",
                flush=True,
            )
    medians = {
        name: {key: statistics.median(r[key] for r in runs) for key in ("add_us", "index_us")}
        for name, runs in results.items()
    }
    for name, figures in medians.items():
        print(
            f"median {name:<7} add {figures['add_us']:7.1f} us  index {figures['index_us']:7.1f} us"
        )
    if "before" in medians:
        for key in ("add_us", "index_us"):
            ratio = medians["after"][key] / medians["before"][key]
            print(f"after/before {key}: {ratio:.2f}x")


if __name__ == "__main__":
    main()
