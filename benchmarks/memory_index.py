"""What the memory store's word index costs at ingest: CPU per message of ``add()``, and its part.

    python -m benchmarks.memory_index [--messages N] [--rounds R]

Summarises ``--messages`` varied ~2 KB messages (``realistic.small_mail``, the
``scale`` benchmark's) once, then each round fills a new ``MemoryStore`` with
them in batches of 256 and, alternating with it, indexes the same records in
a bare ``MemoryIndex``: the thread's CPU time per message of each, medians
over the rounds (CPU time, not wall time, because other work shares the
machine).  ``add()`` minus the index is what the store cost before it had one.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time
from collections.abc import Callable

from benchmarks import realistic
from mailsink.message import Envelope, summarize
from mailsink.store.base import Incoming, StoredMessage
from mailsink.store.memory import MemoryStore
from mailsink.store.memory_index import MemoryIndex

BATCH = 256


def messages(count: int) -> list[Incoming]:
    """Return count summarised small mails, as the ingestor would hand them to the store."""
    items = []
    for n in range(count):
        raw = realistic.small_mail(n)
        envelope = Envelope("app@sender.example.test", (f"user{n % realistic.RECIPIENTS}@x.test",))
        items.append(Incoming(f"m{n}", time.time(), raw, envelope, summarize(raw, envelope)))
    return items


def cpu_per_message(run: Callable[[], None], count: int) -> float:
    """Return the CPU microseconds per message that calling run() took on this thread."""
    started = time.thread_time()
    run()
    return (time.thread_time() - started) / count * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    items = messages(args.messages)
    records = [StoredMessage(i.id, i.received, i.envelope, i.summary) for i in items]
    adds, indexes, entries = [], [], 0

    def fill() -> None:
        store = MemoryStore()
        for first in range(0, len(items), BATCH):
            store.add(items[first : first + BATCH])

    def index() -> None:
        nonlocal entries
        built = MemoryIndex()
        for seq, record in enumerate(records, 1):
            built.add(seq, record)
        entries = built.entries()

    gc.collect()
    for _ in range(args.rounds):
        adds.append(cpu_per_message(fill, len(items)))
        indexes.append(cpu_per_message(index, len(items)))
    add, own = statistics.median(adds), statistics.median(indexes)
    print(
        f"{args.messages:,} messages of ~2 KB, median of {args.rounds} rounds (CPU us/message):\n"
        f"  MemoryStore.add()   {add:7.1f}  (rounds: {', '.join(f'{a:.0f}' for a in adds)})\n"
        f"  of which the index  {own:7.1f}  (rounds: {', '.join(f'{i:.0f}' for i in indexes)})\n"
        f"  without the index   {add - own:7.1f}\n"
        f"  index entries per message: {entries / len(items):.0f}"
    )


if __name__ == "__main__":
    main()
