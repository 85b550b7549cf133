"""What lending a pooled connection costs the PostgreSQL store: a check per lend, or none.

    python -m benchmarks.postgres_lend [--calls N] [--rounds R]

Times ``store.add`` of one 1 KB message (one transaction: the path of a
batch to its 250) and ``store.get`` of one message (one statement), with
psycopg_pool's ``check_connection`` (an empty query before every lend, the
store's old setting) and with the store's own check (a round trip only if
the server spoke on the idle connection), alternating in blocks of
``--calls`` within one run, on a server started here (fsync on).  Medians in
ms, wall time; the client's CPU per call beside it.
"""

from __future__ import annotations

import argparse
import statistics
import time

from psycopg_pool import ConnectionPool

from benchmarks.postgres_server import new_schema, start
from mailsink.message import Envelope, new_id, summarize
from mailsink.store.base import Incoming
from mailsink.store.postgres import PostgresStore
from mailsink.store.postgres.store import _check_if_spoken

RAW = b"From: a@bench.test\r\nTo: b@bench.test\r\nSubject: lend\r\n\r\n" + b"x" * 1000 + b"\r\n"
ENVELOPE = Envelope("a@bench.test", ("b@bench.test",))


def _one() -> Incoming:
    return Incoming(new_id(), time.time(), RAW, ENVELOPE, summarize(RAW, ENVELOPE))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    checks = {
        "check every lend": ConnectionPool.check_connection,
        "check if spoken": _check_if_spoken,
    }
    wall: dict[tuple[str, str], list[float]] = {}
    cpu: dict[tuple[str, str], list[float]] = {}
    server = start()
    try:
        store = PostgresStore(new_schema(server), text_index=False).start()
        store.add([_one()])
        message_id = store.ids()[0]
        calls = {
            "add one 1 KB message": lambda: store.add([_one()]),
            "get one message": lambda: store.get(message_id),
        }
        for _ in range(args.rounds):
            for name, check in checks.items():
                store._pool._check = check  # the setting being measured
                for call_name, call in calls.items():
                    for _n in range(args.calls):
                        began, began_cpu = time.perf_counter(), time.thread_time()
                        call()
                        key = (call_name, name)
                        wall.setdefault(key, []).append((time.perf_counter() - began) * 1000)
                        cpu.setdefault(key, []).append((time.thread_time() - began_cpu) * 1000)
        store.close()
    finally:
        server.remove()
    print(f"{'call':<24}{'lend':<20}{'median ms':>10}{'client CPU ms':>15}")
    for (call_name, name), times in wall.items():
        print(
            f"{call_name:<24}{name:<20}{statistics.median(times):>10.3f}"
            f"{statistics.median(cpu[call_name, name]):>15.3f}"
        )


if __name__ == "__main__":
    main()
