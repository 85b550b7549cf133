"""What the PostgreSQL store's text indexer costs: random or realistic words, version 3's or 4's.

    python -m benchmarks.postgres_indexer [--messages N] [--rounds R]

Each round stores ``--messages`` small mails (``realistic.small_mail``) in a
fresh schema with the indexer off, then moves every text under the indexes
(``TextIndexer.move``, in its batches) and reports the database's CPU and the
wall time of the moves and the vocabulary's size; the corpora alternate
within a round.  ``zipf`` is the mail as ``realistic.py`` makes it (rarer
words drawn by Zipf's law from a bounded vocabulary); ``random`` is the mail
as it was made before, every rarer word seven random letters, new each time
(a vocabulary that grows by about 21 words a message).  ``v3`` is the word
function of schema version 3 (``tests/pg_server.py``'s ``UNDO_VERSION_4``),
``v4`` this one's.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from typing import Any

import psycopg

from benchmarks import postgres_server, realistic
from benchmarks.postgres_ingest import database_cpu
from mailsink.message import Envelope, new_id, summarize
from mailsink.store.base import Incoming
from mailsink.store.postgres import PostgresStore
from mailsink.store.postgres.text_index import TextIndexer


def _random_words(rng: random.Random, count: int) -> list[str]:
    """Return ``count`` words as ``realistic._words`` did before: rarer words of random letters."""
    out = []
    chance, below = rng.random, rng._randbelow  # type: ignore[attr-defined]
    for _ in range(count):
        if chance() < 0.08:
            out.append("".join([realistic._LETTERS[below(26)] for _ in range(7)]))
        else:
            out.append(realistic.WORDS[below(len(realistic.WORDS))])
    return out


def _incoming(count: int, corpus: str) -> list[Incoming]:
    """Return the fill's messages of one corpus, as the ingestor would hand them to the store."""
    zipf = realistic._words
    if corpus == "random":
        realistic._words = _random_words
    try:
        items = []
        for n in range(count):
            raw = realistic.small_mail(n)
            envelope = Envelope("app@sender.example.test", (f"user{n % 1000}@example.test",))
            items.append(Incoming(new_id(), time.time(), raw, envelope, summarize(raw, envelope)))
        return items
    finally:
        realistic._words = zipf


def run(server: Any, items: list[Incoming], version: str) -> tuple[float, float, int]:
    """Fill one fresh schema and move its texts; return DB CPU s, wall s and vocabulary words."""
    url = postgres_server.new_schema(server)
    store = PostgresStore(url, text_index=False).start()
    try:
        if version == "v3":
            sys.path.insert(0, str(postgres_server.ROOT / "tests"))
            from pg_server import UNDO_VERSION_4

            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute(UNDO_VERSION_4)
        for first in range(0, len(items), 256):
            store.add(items[first : first + 256])
        indexer = TextIndexer(store._pool)
        cpu, began = database_cpu(server), time.perf_counter()
        while indexer.move() > 0:
            pass
        seconds, cpu = time.perf_counter() - began, database_cpu(server) - cpu
        with psycopg.connect(url) as conn:
            row = conn.execute("SELECT count(*) FROM mailsink_vocab").fetchone()
        return cpu, seconds, int(row[0]) if row else 0
    finally:
        store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    corpora = {name: _incoming(args.messages, name) for name in ("random", "zipf")}
    server = postgres_server.start()
    kinds = [("random", "v3"), ("zipf", "v3"), ("zipf", "v4")]
    results: dict[str, list[tuple[float, float, int]]] = {f"{c} {v}": [] for c, v in kinds}
    try:
        for _ in range(args.rounds):
            for corpus, version in kinds:
                name = f"{corpus} {version}"
                results[name].append(run(server, corpora[corpus], version))
                print(name, results[name][-1], flush=True)
    finally:
        server.remove()
    print(f"\n{args.messages:,} messages, medians of {args.rounds}")
    print(f"{'corpus':<12}{'DB CPU ms/msg':>15}{'move s':>10}{'vocabulary':>12}")
    for name, runs in results.items():
        cpu = statistics.median(r[0] for r in runs) * 1000 / args.messages
        wall = statistics.median(r[1] for r in runs)
        words = statistics.median(r[2] for r in runs)
        print(f"{name:<12}{cpu:>15.3f}{wall:>10.1f}{words:>12,.0f}")


if __name__ == "__main__":
    main()
