"""List and search latency through the JSON API on the PostgreSQL store, SQLite alongside.

    python -m benchmarks.postgres_search [--messages N] [--rounds R] [--no-sqlite]

The same corpus and requests as ``api_search.py`` (which it reuses): messages
summarised once and stored with ``store.add`` in batches of 1,000, then each
request through the whole Flask app.  The SQLite store with the same corpus
is measured in the same run as the baseline (``--no-sqlite`` skips it, for
a million messages).  PostgreSQL runs on a local server started here, fsync
on, with ``postgres_server.SETTINGS``; ``VACUUM ANALYZE`` runs once after the
load, as autovacuum would soon do.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import psycopg

from benchmarks.api_search import fill, measure
from benchmarks.postgres_server import new_schema, start
from benchmarks.results_file import save
from mailsink.store import SQLiteStore
from mailsink.store.postgres import PostgresStore


def _table(title: str, results: dict[str, dict[str, float]]) -> None:
    print(f"\n{title}")
    width = max(len(name) for name in results)
    print(f"{'request':<{width}}  median ms  max ms  matched")
    for name, row in results.items():
        print(f"{name:<{width}}  {row['median_ms']:>9}  {row['max_ms']:>6}  {row['matched']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--no-sqlite", action="store_true")
    args = parser.parse_args()
    record: dict[str, object] = {"messages": args.messages}
    server = start()
    try:
        url = new_schema(server)
        store = PostgresStore(url).start()
        spent = fill(store, args.messages)
        began = time.perf_counter()
        if not store.wait_indexed(timeout=3600):
            raise SystemExit("the text index did not catch up in an hour")
        caught_up = time.perf_counter() - began
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE")  # every table, as autovacuum soon would
        mb = store.disk_usage() / 1e6
        print(f"PostgreSQL: the text index caught up {caught_up:.1f} s after the last add")
        print(
            f"PostgreSQL: {args.messages} messages stored in {spent:.1f} s "
            f"({args.messages / spent:.0f} msgs/s, batches of 1000), {mb:.0f} MB"
        )
        results = measure(store, args.rounds)
        _table(f"PostgreSQL, {args.messages} messages", results)
        record["postgres"] = {
            "insert_seconds": spent,
            "index_caught_up_seconds": caught_up,
            "megabytes": mb,
            "requests": results,
        }
        store.close()
    finally:
        server.remove()
    if not args.no_sqlite:
        with tempfile.TemporaryDirectory() as folder:
            sqlite = SQLiteStore(Path(folder) / "bench.db")
            spent = fill(sqlite, args.messages)
            began = time.perf_counter()
            sqlite.wait_indexed(timeout=600)
            print(
                f"\nSQLite: stored in {spent:.1f} s, "
                f"index caught up {time.perf_counter() - began:.1f} s later"
            )
            results = measure(sqlite, args.rounds)
            _table(f"SQLite, {args.messages} messages", results)
            record["sqlite"] = {"insert_seconds": spent, "requests": results}
            sqlite.close()
    print(f"\nresults: {save(f'postgres_search_{args.messages}', record)}")


if __name__ == "__main__":
    main()
