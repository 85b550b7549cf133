"""List and search latency through the JSON API with 100,000 messages in the SQLite store.

    python -m benchmarks.api_search [--messages N] [--rounds R] [--db PATH]

Messages (varied senders, 2,000 recipients, words from a 5,000-word
vocabulary, some tags and attachments) are summarised once and inserted with
``store.add`` in batches of 1,000.  Each request then goes through the whole
Flask app (query parsing, SQL, JSON) with the test client; the table shows
the median and the slowest of ``--rounds`` runs in milliseconds.  The last
request deletes everything (timed once).  Results are also written to
``benchmarks/results/api_search_<N>.json``.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from pathlib import Path

from benchmarks.results_file import save
from mailsink.config import Settings
from mailsink.ingest import Ingestor
from mailsink.mailbox import Mailbox
from mailsink.message import Envelope, new_id, summarize
from mailsink.store import SQLiteStore
from mailsink.store.base import Incoming
from mailsink.web import create_app

ROOT = Path(__file__).resolve().parent.parent
USERS = 2_000
VOCABULARY = 5_000
BATCH = 1_000


def _word(rng: random.Random) -> str:
    """Return a pseudo-word of 4 to 9 letters."""
    return "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(4, 9)))


def make_messages(count: int, seed: int = 7) -> list[Incoming]:
    """Return ``count`` varied messages, the oldest first."""
    rng = random.Random(seed)
    words = [_word(rng) for _ in range(VOCABULARY)]
    start = time.time() - count
    batch: list[Incoming] = []
    for i in range(count):
        to = f"user{rng.randrange(USERS)}@example.test"
        sender = f"app{rng.randrange(20)}@sender.test"
        subject = " ".join(rng.choice(words) for _ in range(rng.randint(3, 8)))
        body = " ".join(rng.choice(words) for _ in range(rng.randint(40, 200)))
        if i == count // 2:
            body += " needleinthehaystack"
        tags = "X-Tags: batch\r\n" if i % 50 == 0 else ""
        raw = (
            f"From: App <{sender}>\r\nTo: {to}\r\nSubject: {subject}\r\n{tags}"
            f"Message-ID: <{i}@bench.test>\r\n\r\n{body}\r\n"
        ).encode()
        envelope = Envelope(sender, (to,), helo="bench", peer="127.0.0.1:1")
        batch.append(Incoming(new_id(), start + i, raw, envelope, summarize(raw, envelope)))
    return batch


def fill(store: SQLiteStore, count: int) -> float:
    """Insert ``count`` messages in batches; return the seconds taken by ``store.add``."""
    spent = 0.0
    done = 0
    while done < count:
        size = min(BATCH * 10, count - done)
        messages = make_messages(size, seed=done)
        began = time.perf_counter()
        for i in range(0, len(messages), BATCH):
            store.add(messages[i : i + BATCH])
        spent += time.perf_counter() - began
        done += size
    return spent


def measure(store: SQLiteStore, rounds: int) -> dict[str, dict[str, float]]:
    """Time each request through the Flask app; return median and max in ms."""
    mailbox = Mailbox(store)
    ingestor = Ingestor(mailbox).start()
    client = create_app(mailbox, Settings(), ingestor=ingestor).test_client()
    count = store.count()
    requests = {
        "list first page (50)": "/api/v1/messages?limit=50",
        "list deep page (start=count/2)": f"/api/v1/messages?start={count // 2}&limit=50",
        "search to:user42@example.test": "/api/v1/search?query=to:user42@example.test",
        "search to:=user42@example.test (exact)": "/api/v1/search?query=to:%3Duser42@example.test",
        "search free text, rare word": "/api/v1/search?query=needleinthehaystack",
        "search free text, common word": "/api/v1/search?query=" + _common_word(store),
        "search tag:batch": "/api/v1/search?query=tag:batch",
        "wait, match already there": "/api/v1/wait?query=needleinthehaystack&timeout=1",
        "open a message (JSON, peek)": f"/api/v1/message/{_middle_id(store)}?peek=1",
        "open a message (raw)": f"/api/v1/message/{_middle_id(store)}/raw",
    }
    results = {}
    for name, path in requests.items():
        times = []
        for _ in range(rounds):
            began = time.perf_counter()
            response = client.get(path)
            times.append((time.perf_counter() - began) * 1000)
            assert response.status_code == 200, (path, response.get_data(as_text=True))
        body = response.get_json(silent=True)
        matched = body.get("messages_count") if isinstance(body, dict) else None
        results[name] = {
            "median_ms": round(statistics.median(times), 1),
            "max_ms": round(max(times), 1),
            "matched": matched,
        }
    began = time.perf_counter()
    response = client.delete("/api/v1/messages")
    assert response.status_code == 200, response.get_data(as_text=True)
    results["delete all (once)"] = {
        "median_ms": round((time.perf_counter() - began) * 1000, 1),
        "max_ms": round((time.perf_counter() - began) * 1000, 1),
        "matched": count,
    }
    ingestor.close()
    return results


def _middle_id(store: SQLiteStore) -> str:
    """Return the ID of a message in the middle of the mailbox."""
    return store.list(store.count() // 2, 1).items[0].id


def _common_word(store: SQLiteStore) -> str:
    """Return the first subject word of the newest message (a frequent word)."""
    newest = store.list(0, 1).items[0]
    return newest.summary.subject.split()[0]


def main() -> None:
    """Fill a SQLite store, print the latency table; the store is emptied at the end."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--db", type=Path, help="reuse (or create) this database file")
    args = parser.parse_args()
    folder = tempfile.TemporaryDirectory()
    path = args.db or Path(folder.name) / "bench.db"
    store = SQLiteStore(path).start()
    insert_s = None
    if store.count() < args.messages:
        insert_s = fill(store, args.messages - store.count())
    disk_mb = store.disk_usage() / 1e6
    print(f"{store.count()} messages in {path} ({disk_mb:.0f} MB with blobs and index)")
    if insert_s is not None:
        rate = args.messages / insert_s
        print(f"store.add: {insert_s:.1f} s ({rate:.0f} msgs/s, batches of {BATCH})")
    started = time.perf_counter()
    if not store.wait_indexed(timeout=600):
        raise SystemExit("the text index did not catch up in 10 minutes")
    print(f"text index caught up {time.perf_counter() - started:.1f} s after the last add")
    results = measure(store, args.rounds)
    width = max(len(name) for name in results)
    print(f"{'request':<{width}}  median ms  max ms  matched")
    for name, row in results.items():
        print(f"{name:<{width}}  {row['median_ms']:>9}  {row['max_ms']:>6}  {row['matched']}")
    record = {"messages": args.messages, "insert_seconds": insert_s, "requests": results}
    print(f"results: {save(f'api_search_{args.messages}', record)}")
    store.close()
    folder.cleanup()


if __name__ == "__main__":
    main()
