"""A store filled with many varied messages: ingest rate, memory, and the API's queries.

    python -m benchmarks.scale [--messages N] [--memory-messages N] [--rounds R]
        [--stores memory,sqlite] [--makers P]

Fills each store with ``--messages`` varied ~2 KB messages
(``realistic.small_mail``: 1,000 recipients, a common word in ~5%, a rare
word in one, three tags) through mailsink's own write path -
``Ingestor.store_batch`` (summary, ID, ``store.add``) in batches of 256, as
concurrent SMTP sessions would - not over SMTP, so a million messages take
minutes rather than an hour.  Reports the ingest rate of the first and last
10,000 (or tenth), the process's RSS growth, and then the issue-19 table of
requests through the whole Flask app (``Sink.app``'s test client: routing,
query parsing, store, JSON): each request ``--rounds`` times, the stores
alternating, median in milliseconds.  The default size runs in a few
minutes; the issue's full run is ``--messages 1000000 --memory-messages
500000`` (SQLite at a million, the memory store at half a million).

``--stores postgres`` (or ``memory,sqlite,postgres``) adds the PostgreSQL
store, on a server started here (``postgres_server.py``: fsync on, a
production server's settings), filled through the same ingestor; before the
requests it waits for the text index to catch up and runs ``VACUUM ANALYZE``
once, as autovacuum soon would.
"""

from __future__ import annotations

import argparse
import collections
import multiprocessing
import resource
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from multiprocessing.pool import AsyncResult
from pathlib import Path

from benchmarks import postgres_server, realistic
from benchmarks.results_file import save
from mailsink.config import Settings
from mailsink.message import Envelope
from mailsink.server import Sink

BATCH = 256
ENVELOPE_FROM = "app@sender.example.test"

GOALS = {
    "list, first page": 15,
    "list, start half-way": 50,
    "to:user42@example.test": 50,
    "free text, rare word": 150,
    "free text, common word": 150,
    "subject: with 0 hits": 150,
    "open a message": 5,
    "GET /api/v1/info": 20,
}
"""The issue's goal for each request, in milliseconds."""


def rss_mb() -> float:
    """Return this process's resident memory in MB (Linux /proc)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def make_batch(first: int, count: int) -> tuple[list[tuple[bytes, str]], int]:
    """Return messages ``first`` to ``first + BATCH`` (not past ``count``) with their recipients.

    A function of its arguments alone, so that worker processes can make the
    batches while this process stores them: the bytes are the same either way.
    """
    batch = []
    for n in range(first, min(count, first + BATCH)):
        batch.append((realistic.small_mail(n), f"user{n % realistic.RECIPIENTS}@example.test"))
    return batch, first


def _batches(count: int, makers: int) -> Iterator[tuple[list[tuple[bytes, str]], int]]:
    """Yield the fill's batches in order, made by ``makers`` processes (0: here)."""
    starts = range(0, count, BATCH)
    if makers <= 0:
        for first in starts:
            yield make_batch(first, count)
        return
    # A bounded read-ahead: Pool.imap takes every result the makers finish, so batches
    # piled up faster than the store took them and stayed in the RSS it reports (+468 MB
    # against +362 MB without makers, for 228 MB raw at 100,000).
    with multiprocessing.get_context("spawn").Pool(makers) as pool:
        ahead: collections.deque[AsyncResult[tuple[list[tuple[bytes, str]], int]]]
        ahead = collections.deque()
        for first in starts:
            ahead.append(pool.apply_async(make_batch, (first, count)))
            if len(ahead) >= 4 * makers:
                yield ahead.popleft().get()
        while ahead:
            yield ahead.popleft().get()


def fill(sink: Sink, count: int, makers: int = 0, rate: float = 0.0) -> dict[str, float]:
    """Store ``count`` messages through the ingestor; return rates and memory.

    ``makers`` processes generate the mail (a million messages take about
    100 s of CPU to make), so the store's own ingest path is what the run
    waits for; only the time inside ``store_batch`` is counted either way.
    ``rate`` (messages a second, 0 for as fast as it goes) paces the batches
    like steady traffic: each waits for its time if it is early.
    """
    window = min(10_000, max(BATCH, count // 10))
    rss_before = rss_mb()
    marks: list[tuple[int, float]] = [(0, 0.0)]
    raw_bytes = 0
    storing = 0.0  # seconds inside store_batch: making the messages is not counted
    storing_cpu = 0.0  # CPU seconds of this thread inside store_batch
    cpu_marks: list[tuple[int, float]] = [(0, 0.0)]
    began = time.perf_counter()
    for made, first in _batches(count, makers):
        if rate > 0:
            time.sleep(max(0.0, began + first / rate - time.perf_counter()))
        items = [(raw, Envelope(ENVELOPE_FROM, (rcpt,))) for raw, rcpt in made]
        raw_bytes += sum(len(raw) for raw, _rcpt in made)
        started, cpu = time.perf_counter(), time.thread_time()
        sink.ingestor.store_batch(items)
        storing_cpu += time.thread_time() - cpu
        storing += time.perf_counter() - started
        marks.append((first + len(items), storing))
        cpu_marks.append((first + len(items), storing_cpu))

    def rate(lo: int, hi: int, points: list[tuple[int, float]]) -> float:
        start = min(points, key=lambda m: abs(m[0] - lo))
        end = min(points, key=lambda m: abs(m[0] - hi))
        return (end[0] - start[0]) / max(end[1] - start[1], 1e-9)

    return {
        "messages": count,
        "seconds": marks[-1][1] - marks[0][1],
        "first_rate": rate(0, window, marks),
        "last_rate": rate(count - window, count, marks),
        "first_cpu_rate": rate(0, window, cpu_marks),
        "last_cpu_rate": rate(count - window, count, cpu_marks),
        "window": window,
        "raw_mb": raw_bytes / 1e6,
        "wall_rate": count / max(time.perf_counter() - began, 1e-9),
        "rss_growth_mb": rss_mb() - rss_before,
    }


def requests(sink: Sink, count: int) -> dict[str, Callable[[], object]]:
    """Return the issue's requests against one filled sink, by name."""
    client = sink.app.test_client()
    middle = sink.store.list(count // 2, 1).items[0].id

    def get(path: str) -> Callable[[], object]:
        def run() -> object:
            response = client.get(path)
            assert response.status_code == 200, (path, response.status_code)
            return response.get_json()

        return run

    search = "/api/v1/search?limit=50&query="
    return {
        "list, first page": get("/api/v1/messages?limit=50"),
        "list, start half-way": get(f"/api/v1/messages?limit=50&start={count // 2}"),
        "to:user42@example.test": get(search + "to:user42@example.test"),
        "free text, rare word": get(search + realistic.RARE_WORD),
        "free text, common word": get(search + realistic.COMMON_WORD),
        "subject: with 0 hits": get(search + "subject:zzznothinghere"),
        "open a message": get(f"/api/v1/message/{middle}"),
        "GET /api/v1/info": get("/api/v1/info"),
    }


def open_sink(kind: str, tmp: Path, server: object) -> Sink:
    """Start a sink (no listeners of note) on a new, empty store of one kind."""
    if kind == "postgres":
        store = postgres_server.new_schema(server)
    elif kind in ("memory", "sqlite"):
        store = "memory" if kind == "memory" else str(tmp / "scale.db")
    else:
        raise SystemExit(f"unknown store {kind!r}: memory, sqlite or postgres")
    return Sink(Settings(smtp_port=0, http_port=None, tls=False, store=store)).start()


def fill_line(stats: dict[str, float]) -> str:
    """Describe a fill in one line."""
    line = (
        f"{stats['messages']:,.0f} messages in {stats['seconds']:.0f} s; "
        f"first {stats['window']:,.0f}: {stats['first_rate']:,.0f} msg/s, "
        f"last: {stats['last_rate']:,.0f} msg/s; RSS +{stats['rss_growth_mb']:,.0f} MB "
        f"for {stats['raw_mb']:,.0f} MB raw"
    )
    if "index_caught_up_s" in stats:
        line += f"; text index caught up {stats['index_caught_up_s']:.0f} s later"
    return line


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=50_000)
    parser.add_argument("--memory-messages", type=int, default=0, help="default: --messages")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--stores", default="memory,sqlite")
    parser.add_argument("--makers", type=int, default=1, help="mail-making processes")
    args = parser.parse_args()
    kinds = [k.strip() for k in args.stores.split(",") if k.strip()]
    sizes = {
        k: (args.memory_messages or args.messages) if k == "memory" else args.messages
        for k in kinds
    }
    results: dict[str, dict[str, object]] = {}
    server = postgres_server.start() if "postgres" in kinds else None
    with tempfile.TemporaryDirectory() as tmp:
        sinks: dict[str, Sink] = {}
        try:
            for kind in kinds:
                sinks[kind] = open_sink(kind, Path(tmp), server)
                stats = fill(sinks[kind], sizes[kind], args.makers)
                if kind == "postgres":
                    store = sinks[kind].settings.store
                    stats["index_caught_up_s"] = postgres_server.settle(store, sinks[kind].store)
                results[kind] = {"fill": stats, "times": {}}
                print(f"{kind}: {fill_line(stats)}", flush=True)
            runs = {kind: requests(sink, sizes[kind]) for kind, sink in sinks.items()}
            times: dict[str, dict[str, list[float]]] = {k: {n: [] for n in GOALS} for k in kinds}
            for _ in range(args.rounds):
                for name in GOALS:
                    for kind in kinds:  # alternating: the stores share each moment's noise
                        started = time.perf_counter()
                        runs[kind][name]()
                        times[kind][name].append((time.perf_counter() - started) * 1000)
        finally:
            for sink in sinks.values():
                sink.stop()
            if server is not None:
                server.remove()
    header = "".join(f"{f'{k} {sizes[k]:,}':>20}" for k in kinds)
    print(f"\n{'request (median ms)':<28}{header}{'goal':>8}")
    for name, goal in GOALS.items():
        cells = ""
        for kind in kinds:
            median = statistics.median(times[kind][name])
            results[kind]["times"][name] = median  # type: ignore[index]
            mark = "" if median <= goal else " *"
            cells += f"{median:>18,.1f}{mark or '  '}"
        print(f"{name:<28}{cells}{goal:>8}")
    print("(* misses the goal)")
    print(f"\nresults: {save('scale', results)}")


if __name__ == "__main__":
    main()
