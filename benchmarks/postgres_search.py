"""The PostgreSQL store filled to scale: issue 17's requests in wall, node and database CPU time.

    python -m benchmarks.postgres_search [--messages N] [--rounds R] [--makers P]
        [--keep DIR | --reuse DIR] [--sqlite]

Fills one PostgreSQL store the way ``benchmarks.scale`` does (its ``fill``:
``realistic.small_mail`` made by ``--makers`` processes, stored through
``Ingestor.store_batch`` in batches of 256, the store's own add path), waits
for the text index to catch up and runs ``VACUUM ANALYZE`` once, as
autovacuum soon would.  Then each of ``benchmarks.scale``'s requests (the
issue's table) runs ``--rounds`` times through the whole Flask app; the
table shows the median wall time, the median CPU time of the requesting
thread (Flask, the store's Python) and the database's CPU per request (the
server's processes, summed over the rounds and divided by them: the kernel
counts it in ticks of 10 ms, too coarse for one request).

The server runs with ``postgres_server.SETTINGS`` (fsync on).  ``--keep
DIR`` makes its data folder in DIR and leaves it there, stopped, with the
fill's figures in ``DIR/fill.json``; ``--reuse DIR`` starts that server
again and measures without filling (after a code change: the store is
opened, migrated if its schema is older, and the indexer catches up first).
A million messages take most of an hour to fill on two shared cores.
``--sqlite`` fills a SQLite store the same way afterwards, as a baseline.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks import postgres_server, scale
from benchmarks.postgres_ingest import database_cpu
from benchmarks.results_file import save
from mailsink.config import Settings
from mailsink.server import Sink

SCHEMA = "bench"
"""The schema the kept store's tables live in (one store per kept server)."""


def _server(folder: Path, reuse: bool) -> Any:
    """Start a kept server in ``folder`` (made there unless ``reuse``)."""
    sys.path.insert(0, str(postgres_server.ROOT / "tests"))
    from pg_server import PostgresServer

    server = PostgresServer(folder, settings=postgres_server.SETTINGS)
    if not reuse:
        server.init()
    server.start()
    return server


def _url(server: Any) -> str:
    """Return the URL of the kept store's schema, creating the schema if it is missing."""
    from urllib.parse import quote

    import psycopg

    with psycopg.connect(server.url(), autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
    return str(server.url()) + "?options=" + quote(f"-csearch_path={SCHEMA},public")


def timed(run: Callable[[], object], rounds: int, server: Any) -> dict[str, float]:
    """Run ``rounds`` times; return median wall and thread CPU ms, and database CPU ms per run."""
    run()  # the first call warms the pool's connections and the plan caches
    walls, cpus = [], []
    db_before = database_cpu(server) if server is not None else 0.0
    for _ in range(rounds):
        wall, cpu = time.perf_counter(), time.thread_time()
        run()
        cpus.append((time.thread_time() - cpu) * 1000)
        walls.append((time.perf_counter() - wall) * 1000)
    db = (database_cpu(server) - db_before) * 1000 / rounds if server is not None else 0.0
    return {"wall_ms": statistics.median(walls), "cpu_ms": statistics.median(cpus), "db_ms": db}


def measure(sink: Sink, messages: int, rounds: int, server: Any) -> dict[str, dict[str, float]]:
    """Time the issue's requests; print and return the table."""
    runs = scale.requests(sink, messages)
    times = {name: timed(run, rounds, server) for name, run in runs.items()}
    print(f"\n{'request (median ms)':<28}{'wall':>9}{'cpu':>8}{'db cpu':>8}{'goal':>8}")
    for name, row in times.items():
        mark = " *" if row["wall_ms"] > scale.GOALS[name] else "  "
        print(
            f"{name:<28}{row['wall_ms']:>9,.1f}{row['cpu_ms']:>8,.1f}{row['db_ms']:>8,.1f}"
            f"{mark}{scale.GOALS[name]:>6}"
        )
    print("(* wall time misses the goal)", flush=True)
    return times


def fill(sink: Sink, url: str, messages: int, makers: int) -> dict[str, Any]:
    """Fill the store, wait for the index and vacuum; print and return the figures."""
    stats = scale.fill(sink, messages, makers)
    stats["index_caught_up_s"] = postgres_server.settle(url, sink.store)
    stats["megabytes"] = sink.store.disk_usage() / 1e6
    print(f"postgres: {scale.fill_line(stats)}; {stats['megabytes']:,.0f} MB", flush=True)
    return stats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--makers", type=int, default=1, help="mail-making processes")
    parser.add_argument("--keep", type=Path, help="fill a server's data folder here and keep it")
    parser.add_argument("--reuse", type=Path, help="measure the server --keep left here")
    parser.add_argument("--sqlite", action="store_true", help="a SQLite store alongside")
    args = parser.parse_args()
    results: dict[str, Any] = {}
    with contextlib.ExitStack() as stack:
        if args.reuse or args.keep:
            folder = args.reuse or args.keep
            server = _server(folder, reuse=bool(args.reuse))
            stack.callback(server.stop)
            url = _url(server)
        else:
            server = postgres_server.start()
            stack.callback(server.remove)
            url = postgres_server.new_schema(server)
        settings = Settings(smtp_port=0, http_port=None, tls=False, store=url)
        started = time.perf_counter()
        sink = Sink(settings).start()
        stack.callback(sink.stop)
        if args.reuse:
            print(f"opened the store in {time.perf_counter() - started:.2f} s", flush=True)
            results["fill"] = json.loads((folder / "fill.json").read_text())
            caught_up = postgres_server.settle(url, sink.store)
            print(f"the text index caught up in {caught_up:.1f} s", flush=True)
        else:
            results["fill"] = fill(sink, url, args.messages, args.makers)
            if args.keep:
                (args.keep / "fill.json").write_text(json.dumps(results["fill"]))
        messages = int(results["fill"]["messages"])
        results["postgres"] = measure(sink, messages, args.rounds, server)
    if args.sqlite:
        with tempfile.TemporaryDirectory() as tmp:
            settings = Settings(smtp_port=0, http_port=None, tls=False, store=f"{tmp}/scale.db")
            sink = Sink(settings).start()
            try:
                stats = scale.fill(sink, messages, args.makers)
                sink.store.wait_indexed(3600)
                print(f"\nsqlite: {scale.fill_line(stats)}", flush=True)
                results["sqlite"] = measure(sink, messages, args.rounds, None)
            finally:
                sink.stop()
    print(f"\nresults: {save(f'postgres_search_{messages}', results)}")


if __name__ == "__main__":
    main()
