"""SMTP ingest into the PostgreSQL store: one node vs the SQLite store, two nodes vs one.

    python -m benchmarks.postgres_ingest [--messages N] [--rounds R] [--node-cpu F]
        [--kinds sqlite,pg-1node,pg-2nodes] [--sizes 1,100,newsletter]

Postfix's ``smtp-source`` sends the load (see ``smtp_ingest.py``): 10 sessions
with connections kept, 1 KB and 100 KB messages (one repeated character, as
the issue's figures are asked for) and ``realistic.newsletter`` (~300 KB: an
HTML newsletter of varied words and a 200 KB base64 attachment, which no
compression shrinks).  ``sqlite`` is one mailsink
on a SQLite file (the baseline); ``pg-1node`` one mailsink on a PostgreSQL
database; ``pg-2nodes`` two mailsink processes on the same database, the load
split over both (5 sessions and half the messages each, at once, as a TCP
load balancer would).  Every run starts fresh servers (a new schema for
PostgreSQL).  The server started here is local, with fsync on, on the same
machine as the nodes and the load, so they share its cores: "DB CPU" is what
the PostgreSQL server spent per message (the background text index
included), which a database on its own machine would take off the nodes'.
Each PostgreSQL run's schema is dropped after it and the server
checkpointed (``postgres_server.drop_schema``), and every run waits for the
server to be idle first, so no run pays for the one before.  Medians of
``--rounds`` alternating runs; ratios are to the SQLite baseline
and, for two nodes, to one node.

``--node-cpu F`` puts each mailsink process in a cgroup (v1, ``cpu``
controller, ``/sys/fs/cgroup/cpu``; needs root) limited to ``F`` of one core
(``cpu.cfs_quota_us`` over a 100 ms period); the PostgreSQL server and
``smtp-source`` stay unlimited.  On a small machine one unlimited node, the
database and the load already fill every core, so a second node only shares
them; with the nodes held below what the machine has spare, the nodes are the
bottleneck, and two nodes vs one shows how ingest scales with node CPU, as it
would with each node on its own machine.  What it does not show: a database
that keeps up with N nodes (here it is still on the same cores, so with large
enough ``F`` or many nodes it caps the figure again), the network between
nodes and database, or each node's own cores (a quota is time-sliced: a node
throttled mid-transaction holds its locks while it waits, which separate
machines would not).  Check that the database CPU per message times the rate
stays well below the cores left over.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from benchmarks import realistic
from benchmarks.postgres_server import checkpoint, drop_schema, new_schema, start
from benchmarks.results_file import save
from benchmarks.smtp_ingest import POSTFIX_DIR, ROOT, TICKS, cpu_seconds, smtp_source

KINDS = ("sqlite", "pg-1node", "pg-2nodes")


@dataclass
class Result:
    scenario: str
    server: str
    round: int
    seconds: float
    msgs_per_s: float
    cpu_ms_per_msg: float
    db_cpu_ms_per_msg: float
    throttled_share: float = 0.0
    """Seconds the nodes were held back by ``--node-cpu``, summed, per second of the run."""


CGROUP_CPU = Path("/sys/fs/cgroup/cpu")
PERIOD_US = 100_000


class CpuQuota:
    """A cgroup v1 ``cpu`` group limited to a fraction of one core, for one process.

    The process is moved in by its PID (``cgroup.procs``), which takes all its
    threads; threads it starts later are born in the group.  ``remove()``
    deletes the group once the process has exited.
    """

    def __init__(self, fraction: float, pid: int) -> None:
        self.path = CGROUP_CPU / f"mailsink-bench-{pid}"
        self.path.mkdir()
        (self.path / "cpu.cfs_period_us").write_text(str(PERIOD_US))
        (self.path / "cpu.cfs_quota_us").write_text(str(round(fraction * PERIOD_US)))
        (self.path / "cgroup.procs").write_text(str(pid))

    def throttled_seconds(self) -> float:
        """Return how long the group has been held back by its quota so far."""
        for line in (self.path / "cpu.stat").read_text().splitlines():
            name, value = line.split()
            if name == "throttled_time":
                return int(value) / 1e9
        return 0.0

    def remove(self) -> None:
        for _ in range(50):
            try:
                self.path.rmdir()
                return
            except OSError:
                time.sleep(0.1)


def _serve(
    args: list[str], node_cpu: float | None = None
) -> tuple[subprocess.Popen[str], int, CpuQuota | None]:
    process = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.servers", *args],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    # Limited from its first instruction, so it starts (imports, schema) under the quota too.
    quota = CpuQuota(node_cpu, process.pid) if node_cpu else None
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line.startswith("PORT "):
        process.kill()
        raise RuntimeError(f"server {args[0]} did not start: {line!r}")
    return process, int(line.split()[1]), quota


def _load(port: int, sessions: int, messages: int, size: int | Path) -> subprocess.Popen[bytes]:
    """Start ``smtp-source``: ``size`` bytes of one repeated character, or a message file."""
    env = {**os.environ, "LD_LIBRARY_PATH": str(POSTFIX_DIR / "usr/lib/postfix")}
    body = ["-F", str(size)] if isinstance(size, Path) else ["-l", str(size)]
    command = [
        *smtp_source(),
        "-s", str(sessions),
        "-m", str(messages),
        *body,
        "-f", "load@bench.test",
        "-t", "sink@bench.test",
        "-d",
        f"127.0.0.1:{port}",
    ]  # fmt: skip
    return subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def database_cpu(server: Any) -> float:
    """Return the CPU seconds used so far by the PostgreSQL server and its live backends."""
    postmaster = int((server.data / "postmaster.pid").read_text().split()[0])
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid = int(stat.parent.name)
        if pid == postmaster or int(fields[1]) == postmaster:
            total += (int(fields[11]) + int(fields[12])) / TICKS
    return total


def indexed(url: str, timeout: float = 300.0) -> None:
    """Wait until the nodes' text index has caught up (``mailsink_text_new`` is empty).

    So the database CPU of a run counts the indexing of its own messages and
    none of the run before: a node stopped mid-move left its backend moving
    100 KB texts into the next run (database CPU per 100 KB message 3 to 7 ms
    from one run to the next).
    """
    import psycopg

    deadline = time.monotonic() + timeout
    with psycopg.connect(url, autocommit=True) as conn:
        while time.monotonic() < deadline:
            row = conn.execute("SELECT EXISTS (SELECT 1 FROM mailsink_text_new)").fetchone()
            if row is not None and not row[0]:
                return
            time.sleep(0.05)
    raise RuntimeError(f"the text index did not catch up in {timeout:.0f} s")


def quiet_database(server: Any, timeout: float = 120.0) -> float:
    """Wait until the PostgreSQL server is idle (under 3% of a core for half a second).

    So no run pays for the one before: the database's work after a run
    (autovacuum of its new tables, most likely) took a second of CPU inside
    the next (a SQLite run at 100 KB fell from 640-700 to 433 messages a
    second while it did).  Returns the seconds waited.
    """
    began = time.perf_counter()
    while time.perf_counter() - began < timeout:
        before = database_cpu(server)
        time.sleep(0.5)
        if database_cpu(server) - before < 0.015:
            break
    return time.perf_counter() - began


def run_one(
    kind: str,
    size: int | Path,
    messages: int,
    server: Any,
    workdir: Path,
    node_cpu: float | None = None,
) -> tuple[float, float, float, float]:
    """Load fresh mailsink processes of one kind.

    Return seconds, node CPU, database CPU and the seconds the nodes were held
    back by ``node_cpu`` (summed over the nodes).

    Database CPU counts until the text index has caught up and a checkpoint
    has written the run's pages, while the nodes' connections are open
    (before they stop); the seconds (and so the rate) stop when the last
    message is acknowledged.
    """
    if kind == "sqlite":
        targets = [["sqlite", str(workdir / f"bench-{time.monotonic_ns()}.db")]]
    else:
        url = new_schema(server)
        targets = [["postgres", url]] * (2 if kind == "pg-2nodes" else 1)
    quiet_database(server)
    started = [_serve(args, node_cpu) for args in targets]
    processes = [(p, port) for p, port, _q in started]
    quotas = [q for _p, _port, q in started if q is not None]
    try:
        cpu_before = sum(cpu_seconds(p.pid) for p, _port in processes)
        throttled_before = sum(q.throttled_seconds() for q in quotas)
        db_before = database_cpu(server)
        began = time.perf_counter()
        share = messages // len(processes)
        loads = [_load(port, 10 // len(processes), share, size) for _p, port in processes]
        for load in loads:
            if load.wait(600) != 0:
                raise RuntimeError("smtp-source failed")
        seconds = time.perf_counter() - began
        if kind == "sqlite":
            time.sleep(0.5)  # as long as the wait below takes at 1 KB
        else:
            indexed(url)
            # A production server writes the run's pages at its next checkpoint anyway;
            # SQLite's runs count their own checkpoints (every 1,000 pages).
            checkpoint(server)
        cpu = sum(cpu_seconds(p.pid) for p, _port in processes) - cpu_before
        db_cpu = database_cpu(server) - db_before
        throttled = sum(q.throttled_seconds() for q in quotas) - throttled_before
    finally:
        for process, _port in processes:
            process.terminate()
        for process, _port in processes:
            process.wait(10)
        for quota in quotas:
            quota.remove()
        if kind != "sqlite":
            drop_schema(server, url)
    return seconds, cpu, db_cpu, throttled


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=4000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--node-cpu",
        type=float,
        default=None,
        help="limit each mailsink process to this fraction of one core (cgroup v1, root)",
    )
    parser.add_argument(
        "--kinds", default=",".join(KINDS), help="comma-separated, of " + ", ".join(KINDS)
    )
    parser.add_argument(
        "--sizes",
        default="1,100,newsletter",
        help="comma-separated: 1 and 100 (KB of one repeated character), newsletter",
    )
    args = parser.parse_args()
    kinds = tuple(k for k in KINDS if k in args.kinds.split(","))
    sizes = args.sizes.split(",")
    server = start()
    results: list[Result] = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            letter = Path(tmp) / "newsletter.eml"
            letter.write_bytes(realistic.as_source_file(realistic.newsletter()))
            scenarios: list[tuple[str, str, int | Path, int]] = [
                ("1KB x10 kept", "1", 1024, args.messages),
                ("100KB x10 kept", "100", 100 * 1024, max(200, args.messages // 4)),
                ("newsletter x10 kept", "newsletter", letter, max(200, args.messages // 8)),
            ]
            for name, label, size, count in scenarios:
                if label not in sizes:
                    continue
                for round_no in range(args.rounds):
                    for kind in kinds:
                        seconds, cpu, db, throttled = run_one(
                            kind, size, count, server, Path(tmp), args.node_cpu
                        )
                        results.append(
                            Result(
                                name,
                                kind,
                                round_no,
                                seconds,
                                count / seconds,
                                cpu * 1000 / count,
                                db * 1000 / count,
                                throttled / seconds,
                            )
                        )
    finally:
        server.remove()
    if args.node_cpu:
        print(f"each node limited to {args.node_cpu:g} of a core (cgroup v1 cpu quota)")
    report(results, kinds)
    print(f"\nresults: {save('postgres_ingest', [asdict(r) for r in results])}")


def report(results: list[Result], kinds: tuple[str, ...] = KINDS) -> None:
    """Print medians per scenario and kind, with the ratios the issue asks about."""
    print(
        f"{'scenario':<22}{'server':<11}{'msg/s':>8}{'node CPU ms':>12}{'DB CPU ms':>10}"
        f"{'throttled':>10}{'ratio':>20}"
    )
    for name in dict.fromkeys(r.scenario for r in results):
        rates = {}
        for kind in kinds:
            runs = [r for r in results if r.scenario == name and r.server == kind]
            rates[kind] = statistics.median(r.msgs_per_s for r in runs)
            cpu = statistics.median(r.cpu_ms_per_msg for r in runs)
            db = statistics.median(r.db_cpu_ms_per_msg for r in runs)
            held = statistics.median(r.throttled_share for r in runs)
            if kind == "sqlite":
                ratio = "baseline"
            elif kind == "pg-1node":
                ratio = f"{rates[kind] / rates['sqlite']:.2f}x SQLite" if "sqlite" in rates else ""
            else:
                base = rates.get("pg-1node")
                ratio = f"{rates[kind] / base:.2f}x one node" if base else ""
            print(
                f"{name:<22}{kind:<11}{rates[kind]:>8.0f}{cpu:>12.2f}{db:>10.2f}{held:>10.2f}"
                f"{ratio:>20}"
            )


if __name__ == "__main__":
    main()
