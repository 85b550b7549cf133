"""Measure the web UI's time to first paint of the list and of a message, in Chromium.

Fills a SQLite store with N messages (default 100,000) through ``store.add``
batches, serves it with a real :class:`~mailsink.server.Sink`, and reads the
UI's own ``performance.mark`` entries (``mailsink:list``, ``mailsink:message``,
``mailsink:message-html``) in headless Chromium.  The same runs against a
10-message store give the baseline, so the ratio shows whether a big mailbox
slows the page down.

    python benchmarks/ui_paint.py                 # 100,000 vs 10 messages
    python benchmarks/ui_paint.py --count 20000 --runs 3
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from playwright.sync_api import Page, sync_playwright

from mailsink.config import Settings
from mailsink.message import Envelope, new_id, summarize
from mailsink.server import Sink
from mailsink.store.base import Incoming
from mailsink.store.sqlite import SQLiteStore

BATCH = 1_000
RESULTS = Path(__file__).resolve().parent / "results"


def raw_message(i: int) -> bytes:
    """Return message number i: plain text, every tenth one with an HTML alternative."""
    head = (
        f"From: Sender {i % 97} <sender{i % 97}@example.test>\r\n"
        f"To: user{i % 1000}@example.test\r\n"
        f"Subject: Benchmark message {i} about order {i * 7 % 100_000}\r\n"
        f"Message-ID: <bench-{i}@example.test>\r\n"
        "MIME-Version: 1.0\r\n"
    )
    text = f"Hello user {i}, this is message {i} of the benchmark. " * 4
    if i % 10:
        return (head + "Content-Type: text/plain; charset=utf-8\r\n\r\n" + text + "\r\n").encode()
    return (
        head + 'Content-Type: multipart/alternative; boundary="b"\r\n\r\n'
        "--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + text + "\r\n"
        "--b\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
        f"<h1>Message {i}</h1><p>{text}</p>\r\n--b--\r\n"
    ).encode()


def fill(path: Path, count: int) -> float:
    """Create a SQLite store of `count` messages; return the seconds it took."""
    started = time.perf_counter()
    store = SQLiteStore(path).start()
    base = time.time() - count
    for first in range(0, count, BATCH):
        batch = []
        for i in range(first, min(first + BATCH, count)):
            raw = raw_message(i)
            envelope = Envelope(
                f"sender{i % 97}@example.test", (f"user{i % 1000}@example.test",), helo="bench"
            )
            batch.append(Incoming(new_id(), base + i, raw, envelope, summarize(raw, envelope)))
        store.add(batch)
    store.close()
    return time.perf_counter() - started


def mark(page: Page, name: str, timeout: float = 30.0) -> float:
    """Wait for a performance mark and return its time since navigation start (ms)."""
    page.wait_for_function(
        "(name) => performance.getEntriesByName(name).length > 0", arg=name, timeout=timeout * 1000
    )
    return float(page.evaluate(f"performance.getEntriesByName({name!r})[0].startTime"))


def measure(page: Page, url: str, runs: int, message_id: str) -> dict[str, list[float]]:
    """Load the list, a deep page, a search and a message `runs` times each; return the timings."""
    out: dict[str, list[float]] = {
        "list": [],
        "list_fcp": [],
        "last_page": [],
        "search": [],
        "message": [],
        "message_html": [],
        "open_from_list": [],
    }
    for _ in range(runs):
        page.goto(f"{url}/")
        out["list"].append(mark(page, "mailsink:list"))
        out["list_fcp"].append(
            float(
                page.evaluate(
                    "performance.getEntriesByName('first-contentful-paint')[0]?.startTime ?? NaN"
                )
            )
        )
        page.evaluate("performance.clearMarks()")
        started = page.evaluate("performance.now()")
        page.locator("#list > li").nth(1).click()
        out["open_from_list"].append(mark(page, "mailsink:message") - started)
        page.goto(f"{url}/?start=99999999")  # the UI snaps to the last page
        out["last_page"].append(mark(page, "mailsink:list"))
        page.goto(f"{url}/?q=to%3Auser42%40example.test")
        out["search"].append(mark(page, "mailsink:list"))
        page.goto(f"{url}/message/{message_id}")
        out["message"].append(mark(page, "mailsink:message"))
        out["message_html"].append(mark(page, "mailsink:message-html"))
    return out


def api_timings(url: str, runs: int, message_id: str) -> dict[str, list[float]]:
    """Time the API calls the UI makes, from Python, to separate server from browser cost."""
    paths = {
        "api_list": "/api/v1/messages?start=0&limit=50",
        "api_last_page": "/api/v1/messages?start=99950&limit=50",
        "api_search": "/api/v1/search?query=to%3Auser42%40example.test&start=0&limit=50",
        "api_message": f"/api/v1/message/{message_id}?peek=1",
    }
    out: dict[str, list[float]] = {name: [] for name in paths}
    for _ in range(runs):
        for name, path in paths.items():
            started = time.perf_counter()
            with urllib.request.urlopen(url + path) as response:
                response.read()
            out[name].append((time.perf_counter() - started) * 1000)
    return out


def run(count: int, runs: int, chromium: str) -> dict[str, Any]:
    """Fill a store of `count` messages, serve it, and measure it in Chromium."""
    folder = Path(tempfile.mkdtemp(prefix="mailsink-bench-"))
    try:
        path = folder / "mail.db"
        fill_seconds = fill(path, count)
        sink = Sink(Settings(store=str(path), smtp_port=0, http_port=0, tls=False)).start()
        try:
            middle = sink.store.list(count // 2, 50).items
            html_id = next(
                (m.id for m in middle if b"multipart" in (sink.store.raw(m.id) or b"")[:400]),
                middle[0].id,
            )
            with sync_playwright() as pw:
                browser = pw.chromium.launch(
                    executable_path=chromium, args=["--no-sandbox", "--disable-dev-shm-usage"]
                )
                page = browser.new_page(viewport={"width": 1280, "height": 800})
                measure(page, sink.web_url or "", 1, html_id)  # warm up caches
                timings = measure(page, sink.web_url or "", runs, html_id)
                timings.update(api_timings(sink.web_url or "", runs, html_id))
                browser.close()
        finally:
            sink.stop()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return {
        "count": count,
        "fill_seconds": round(fill_seconds, 1),
        "median_ms": {k: round(statistics.median(v), 1) for k, v in timings.items()},
    }


def main() -> None:
    """Run the benchmark and print a table of medians."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--baseline", type=int, default=10)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium")
    args = parser.parse_args()
    results = [
        run(args.baseline, args.runs, args.chromium),
        run(args.count, args.runs, args.chromium),
    ]
    small, big = results
    print(f"{'median ms':<16}{small['count']:>12,}{big['count']:>12,}{'ratio':>8}")
    for key, value in big["median_ms"].items():
        base = small["median_ms"][key]
        ratio = value / base if base else float("nan")
        print(f"{key:<16}{base:>12.1f}{value:>12.1f}{ratio:>8.2f}")
    print(f"filled {big['count']:,} messages in {big['fill_seconds']} s")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "ui_paint.json").write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
