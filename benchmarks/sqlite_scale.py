"""The SQLite store filled to scale: disk, WAL, index lag, queries in CPU time, restart, delete-all.

    python -m benchmarks.sqlite_scale [--messages N] [--rounds R]

Fills one SQLite store the way ``benchmarks.scale`` does (its ``fill``:
``realistic.small_mail`` through ``Ingestor.store_batch``, batches of 256)
while a sampler records the WAL files' peak size and how far the text index
falls behind.  Then it reports what issue 19 asks of the disk store beside
the query table: disk use against the raw bytes, the WAL's peak, the index
lag at the end of the fill and how long it takes to catch up, each of
``benchmarks.scale``'s requests (median of ``--rounds``, wall and CPU
time of the requesting thread, which runs the whole Flask app and SQLite),
the time from a restart to ``/readyz``, and delete-all (its time and the
disk use a few seconds after).  The issue's full run is ``--messages
1000000``; a CPU-time figure is what to compare on a shared machine.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from benchmarks import scale
from benchmarks.results_file import save
from mailsink.config import Settings
from mailsink.server import Sink
from mailsink.store import SQLiteStore


class Sampler:
    """Poll the WAL files' size and the index lag on a thread, keeping the peaks."""

    def __init__(self, path: Path, store: SQLiteStore) -> None:
        self.path, self.store = path, store
        self.wal_peak = 0
        self.lag_peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(0.25):
            wal = 0
            for suffix in ("-wal", "-index-wal"):
                path = Path(f"{self.path}{suffix}")
                wal += path.stat().st_size if path.exists() else 0
            self.wal_peak = max(self.wal_peak, wal)
            self.lag_peak = max(self.lag_peak, lag(self.store))


def lag(store: SQLiteStore) -> int:
    """Return how many messages the text index is behind (nothing is deleted while filling)."""
    index = store.text_index
    return 0 if index is None else max(0, store.count() - index.upto)


def timed(run: Any, rounds: int) -> tuple[float, float]:
    """Return the median wall and CPU milliseconds of ``rounds`` calls."""
    walls, cpus = [], []
    for _ in range(rounds):
        wall, cpu = time.perf_counter(), time.thread_time()
        run()
        cpus.append((time.thread_time() - cpu) * 1000)
        walls.append((time.perf_counter() - wall) * 1000)
    return statistics.median(walls), statistics.median(cpus)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=50_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "scale.db"
        settings = Settings(smtp_port=0, http_port=None, tls=False, store=str(path))
        sink = Sink(settings).start()
        store = sink.store
        assert isinstance(store, SQLiteStore)
        try:
            with Sampler(path, store) as sampler:
                fill = scale.fill(sink, args.messages)
                behind = lag(store)
                started = time.perf_counter()
                store.wait_indexed(3600)
                caught_up = time.perf_counter() - started
            time.sleep(2.5)  # the idle checkpoint truncates the WALs
            disk = store.disk_usage()
            results["fill"] = fill
            results["disk"] = {
                "bytes": disk,
                "per_message": disk / args.messages,
                "ratio_to_raw": disk / (fill["raw_mb"] * 1e6),
                "wal_peak_mb": sampler.wal_peak / 1e6,
                "index_lag_peak": sampler.lag_peak,
                "index_lag_at_end": behind,
                "index_catch_up_s": caught_up,
            }
            print(
                f"fill: {args.messages:,} in {fill['seconds']:.0f} s; first {fill['window']:,}: "
                f"{fill['first_rate']:,.0f} msg/s, last: {fill['last_rate']:,.0f} msg/s "
                f"({fill['last_rate'] / fill['first_rate'] - 1:+.0%})\n"
                f"disk: {disk / 1e6:,.1f} MB = {results['disk']['ratio_to_raw']:.2f}x the "
                f"{fill['raw_mb']:,.1f} MB raw ({disk / args.messages:,.0f} B/message); "
                f"WAL peak {sampler.wal_peak / 1e6:,.1f} MB\n"
                f"index: {behind:,} behind at the end of the fill (peak {sampler.lag_peak:,}), "
                f"caught up {caught_up:.1f} s later",
                flush=True,
            )
            runs = scale.requests(sink, args.messages)
            times = {name: timed(run, args.rounds) for name, run in runs.items()}
            results["requests"] = {n: {"wall_ms": w, "cpu_ms": c} for n, (w, c) in times.items()}
            print(f"\n{'request (median ms)':<28}{'wall':>10}{'cpu':>10}{'goal':>8}")
            for name, (wall, cpu) in times.items():
                mark = " *" if cpu > scale.GOALS[name] else "  "
                print(f"{name:<28}{wall:>10,.1f}{cpu:>10,.1f}{mark}{scale.GOALS[name]:>6}")
            print("(* CPU time misses the goal)")
            sink.stop()
            started = time.perf_counter()
            sink = Sink(settings).start()
            ready = sink.app.test_client().get("/readyz").status_code
            restart = time.perf_counter() - started
            results["restart_to_readyz_s"] = restart
            print(f"\nrestart to /readyz ({ready}): {restart:.2f} s", flush=True)
            store = sink.store
            assert isinstance(store, SQLiteStore)
            started = time.perf_counter()
            status = sink.app.test_client().delete("/api/v1/messages").status_code
            deleting = time.perf_counter() - started
            time.sleep(3)
            left = store.disk_usage()
            results["delete_all"] = {"seconds": deleting, "disk_after_3s": left}
            print(f"delete-all ({status}): {deleting:.2f} s; {left / 1e6:,.2f} MB left 3 s later")
        finally:
            sink.stop()
    print(f"\nresults: {save('sqlite_scale', results)}")


if __name__ == "__main__":
    main()
