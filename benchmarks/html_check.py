"""Time the HTML check on a 100 KB newsletter and on hostile bodies, as the API runs it.

    python -m benchmarks.html_check [--runs N]

Each case goes through :func:`mailsink.checks.html_check` on the raw message
(MIME parse included), as ``GET /api/v1/message/{ID}/html-check`` does:

* a 100 KB HTML newsletter (tables, inline styles, a ``<style>`` sheet);
* a 4.5 MB newsletter, the largest kind of body the check still parses;
* a hostile 25 MB HTML body (the default ``--max-size``): answered "too large";
* 100,000 nested ``<div>`` (500 KB): answered "too deeply nested".

The baseline is html5lib (pure Python) parsing the same 100 KB newsletter, the
other parser the issue named, when it is installed.  Reported: median seconds.
"""

from __future__ import annotations

import argparse
import statistics
import time
from email.message import EmailMessage
from typing import Any

from benchmarks.results_file import save
from mailsink.checks import TooLargeToCheckError, html_check

HEAD = """<!doctype html><html><head><meta charset="utf-8"><style>
body { margin: 0; font-family: system-ui, Arial }
.btn { border-radius: 4px; background: linear-gradient(#fff, #000); display: flex }
a:hover { color: rgb(1, 2, 3) !important }
@media (prefers-color-scheme: dark) { .card { background-color: #000 } }
</style></head><body>"""
CARD = """<table class="card" width="600" bgcolor="#ffffff"><tr>
<td style="padding:10px;max-width:600px;color:#333"><h2 style="margin:0 0 8px">Story title</h2>
<p style="line-height:1.5;font-size:14px">Lorem ipsum dolor sit amet, consectetur adipiscing
elit, sed do eiusmod tempor incididunt ut labore et dolore magna aliqua.</p>
<a class="btn" href="https://example.com/story">Read more</a>
<img src="https://example.com/a.webp" width="100" alt=""></td></tr></table>
"""


def newsletter(size: int) -> str:
    """Return an HTML newsletter of about ``size`` bytes."""
    return HEAD + CARD * max(1, (size - len(HEAD)) // len(CARD)) + "</body></html>"


def message(html: str) -> bytes:
    """Return a multipart/alternative message with this HTML body."""
    msg = EmailMessage()
    msg["From"] = "news@example.com"
    msg["To"] = "reader@example.org"
    msg["Subject"] = "Newsletter"
    msg.set_content("Plain text version")
    msg.add_alternative(html, subtype="html", cte="quoted-printable")
    return msg.as_bytes()


def timed(raw: bytes, runs: int) -> tuple[float, str]:
    """Return (median seconds, outcome) of running the check ``runs`` times."""
    times = []
    outcome = ""
    for _ in range(runs):
        started = time.perf_counter()
        try:
            result = html_check(raw)
            outcome = f"{len(result['Warnings'])} warnings, {result['Total']['Nodes']} nodes"
        except TooLargeToCheckError as error:
            outcome = str(error)
        times.append(time.perf_counter() - started)
    return statistics.median(times), outcome


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    cases = {
        "newsletter 100 KB": message(newsletter(100_000)),
        "newsletter 4.5 MB": message(newsletter(4_500_000)),
        "hostile 25 MB body": message("<p>" + "spam " * (25 * 1024 * 1024 // 5 - 100) + "</p>"),
        "100k nested divs": message("<div>" * 100_000 + "x" + "</div>" * 100_000),
    }
    results: dict[str, Any] = {}
    for name, raw in cases.items():
        seconds, outcome = timed(raw, args.runs if len(raw) < 10_000_000 else 2)
        results[name] = {"bytes": len(raw), "median_s": round(seconds, 4), "outcome": outcome}
        print(f"{name:22} {len(raw):>10} bytes  {seconds:8.4f} s  {outcome}")
    try:
        import html5lib
    except ImportError:
        print("baseline: html5lib not installed")
    else:
        html = newsletter(100_000)
        started = time.perf_counter()
        html5lib.parse(html)
        seconds = time.perf_counter() - started
        results["baseline html5lib parse 100 KB"] = {"median_s": round(seconds, 4)}
        print(f"{'html5lib parse 100 KB':22} {len(html):>10} bytes  {seconds:8.4f} s  (parse only)")
    save("html_check", results)


if __name__ == "__main__":
    main()
