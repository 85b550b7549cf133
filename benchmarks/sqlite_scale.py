"""The SQLite store filled to scale: disk, WAL, index lag, queries in CPU time, restart, delete-all.

    python -m benchmarks.sqlite_scale [--messages N] [--rounds R] [--makers P]
        [--keep DIR | --reuse DIR] [--no-delete] [--rate MSG_PER_S]

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

``--makers`` processes generate the mail while this one stores it (the
default, 1, lets a million fill in about 15 minutes on two cores).
``--keep DIR`` fills a store in DIR and leaves it there (no delete-all);
``--reuse DIR`` measures that store again without filling it (after a code
change: the store is opened, migrated if its schema is older, and the
requests, restart and delete-all run on it; ``--no-delete`` keeps it for
another run).  ``--rate 1000`` paces the fill at 1,000 messages a second,
steady traffic rather than as fast as the store goes, and reports the index's
lag over time (its peak, a line of it at each tenth of the fill, at the end):
how far behind the index stays when it gets the CPU the ingest leaves it.
"""

from __future__ import annotations

import argparse
import contextlib
import json
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
        self.lags: list[tuple[float, int]] = []
        """(seconds since the start, messages behind) at each sample."""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        started = time.perf_counter()
        while not self._stop.wait(0.25):
            wal = 0
            for suffix in ("-wal", "-index-wal"):
                path = Path(f"{self.path}{suffix}")
                wal += path.stat().st_size if path.exists() else 0
            self.wal_peak = max(self.wal_peak, wal)
            behind = lag(self.store)
            self.lag_peak = max(self.lag_peak, behind)
            self.lags.append((time.perf_counter() - started, behind))


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


def fill_store(
    sink: Sink, path: Path, messages: int, makers: int, rate: float = 0.0
) -> dict[str, Any]:
    """Fill the sink's store, report the fill, disk and index lag; return those figures."""
    store = sink.store
    assert isinstance(store, SQLiteStore)
    with Sampler(path, store) as sampler:
        fill = scale.fill(sink, messages, makers, rate)
        behind = lag(store)
        timeline = list(sampler.lags)
        started = time.perf_counter()
        store.wait_indexed(3600)
        caught_up = time.perf_counter() - started
    time.sleep(2.5)  # the idle checkpoint truncates the WALs
    print(
        f"fill: {messages:,} in {fill['seconds']:.0f} s; first {fill['window']:,}: "
        f"{fill['first_rate']:,.0f} msg/s, last: {fill['last_rate']:,.0f} msg/s "
        f"({fill['last_rate'] / fill['first_rate'] - 1:+.0%}); per CPU second of the "
        f"storing thread {fill['first_cpu_rate']:,.0f} and {fill['last_cpu_rate']:,.0f} "
        f"({fill['last_cpu_rate'] / fill['first_cpu_rate'] - 1:+.0%})\n"
        f"index: {behind:,} behind at the end of the fill (peak {sampler.lag_peak:,}), "
        f"caught up {caught_up:.1f} s later; WAL peak {sampler.wal_peak / 1e6:,.1f} MB",
        flush=True,
    )
    if rate:
        reached = fill["wall_rate"]
        print(f"paced at {rate:,.0f} msg/s (reached {reached:,.0f}); {lag_line(timeline)}")
    return {
        "rate": rate,
        "index_lag_timeline": timeline[:: max(1, len(timeline) // 200)],
        "fill": fill,
        "wal_peak_mb": sampler.wal_peak / 1e6,
        "index_lag_peak": sampler.lag_peak,
        "index_lag_at_end": behind,
        "index_catch_up_s": caught_up,
    }


def lag_line(timeline: list[tuple[float, int]]) -> str:
    """Return the index lag at each tenth of the fill's samples, as one line."""
    if not timeline:
        return "no lag samples"
    picks = [timeline[min(len(timeline) - 1, len(timeline) * n // 10)] for n in range(1, 11)]
    return "index lag at each tenth: " + ", ".join(f"{b:,} ({t:.0f} s)" for t, b in picks)


def report_disk(store: SQLiteStore, messages: int, raw_mb: float) -> dict[str, float]:
    """Print and return the store's disk use against the raw bytes."""
    disk = store.disk_usage()
    ratio = disk / (raw_mb * 1e6)
    print(
        f"disk: {disk / 1e6:,.1f} MB = {ratio:.2f}x the {raw_mb:,.1f} MB raw "
        f"({disk / messages:,.0f} B/message)",
        flush=True,
    )
    return {"bytes": disk, "per_message": disk / messages, "ratio_to_raw": ratio}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=50_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--makers", type=int, default=1, help="mail-making processes")
    parser.add_argument("--keep", type=Path, help="fill a store in this folder and keep it")
    parser.add_argument("--reuse", type=Path, help="measure the store --keep left here")
    parser.add_argument("--no-delete", action="store_true", help="skip delete-all")
    parser.add_argument("--rate", type=float, default=0.0, help="pace the fill (msg/s)")
    args = parser.parse_args()
    results: dict[str, Any] = {}
    with contextlib.ExitStack() as stack:
        folder = args.reuse or args.keep or Path(stack.enter_context(tempfile.TemporaryDirectory()))
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / "scale.db"
        meta = folder / "scale.json"
        settings = Settings(smtp_port=0, http_port=None, tls=False, store=str(path))
        started = time.perf_counter()
        sink = Sink(settings).start()
        store = sink.store
        assert isinstance(store, SQLiteStore)
        try:
            if args.reuse:
                print(f"opened {path} in {time.perf_counter() - started:.2f} s", flush=True)
                results.update(json.loads(meta.read_text()))
                started = time.perf_counter()
                store.wait_indexed(3600)
                results["reuse_index_wait_s"] = time.perf_counter() - started
                print(f"index ready {results['reuse_index_wait_s']:.1f} s later", flush=True)
            else:
                results.update(fill_store(sink, path, args.messages, args.makers, args.rate))
                meta.write_text(json.dumps(results))
            messages = int(results["fill"]["messages"])
            results["disk"] = report_disk(store, messages, results["fill"]["raw_mb"])
            runs = scale.requests(sink, messages)
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
            if not (args.no_delete or args.keep):
                store = sink.store
                assert isinstance(store, SQLiteStore)
                started = time.perf_counter()
                status = sink.app.test_client().delete("/api/v1/messages").status_code
                deleting = time.perf_counter() - started
                time.sleep(3)
                left = store.disk_usage()
                results["delete_all"] = {"seconds": deleting, "disk_after_3s": left}
                print(
                    f"delete-all ({status}): {deleting:.2f} s; {left / 1e6:,.2f} MB left 3 s later"
                )
        finally:
            sink.stop()
    print(f"\nresults: {save('sqlite_scale', results)}")


if __name__ == "__main__":
    main()
