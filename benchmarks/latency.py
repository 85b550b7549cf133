"""Latency from the 250 reply to each way a client can learn about the message.

    python -m benchmarks.latency [--messages N] [--store memory|sqlite]

A sink (with its web server) runs in this process; messages are sent one at
a time over SMTP, and for each we take the moment the client read ``250``
and then the moment it was:

* visible in the API: the first ``GET /api/v1/message/{ID}?peek=1`` after 250
  (a 200 means it was already stored: this is one request's round trip);
* delivered on the SSE stream ``/api/v1/events`` (``event: new``), read by a
  thread holding the stream open;
* returned by a server-side wait ``/api/v1/wait`` issued *before* the send;
* returned by the pytest fixture's ``wait_for`` (in-process, the ``MailSink``
  object a test gets, waiting in a thread while the message is sent).

Reported: median, p95 and max in milliseconds.  Target: SSE and wait <= 20 ms.
"""

from __future__ import annotations

import argparse
import http.client
import json
import smtplib
import statistics
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

from benchmarks.results_file import save
from mailsink.config import Settings
from mailsink.server import Sink


def percentile(values: list[float], fraction: float) -> float:
    """Return the value below which ``fraction`` of the values lie."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


class SSEReader(threading.Thread):
    """Hold /api/v1/events open and note when each new message ID arrives."""

    def __init__(self, host: str, port: int) -> None:
        super().__init__(daemon=True)
        self.seen: dict[str, float] = {}
        self.ready = threading.Event()
        self.conn = http.client.HTTPConnection(host, port, timeout=60)

    def run(self) -> None:
        self.conn.request("GET", "/api/v1/events", headers={"Accept": "text/event-stream"})
        response = self.conn.getresponse()
        self.ready.set()
        kind = ""
        while True:
            line = response.fp.readline()
            if not line:
                return
            text = line.decode().rstrip("\n")
            if text.startswith("event:"):
                kind = text[6:].strip()
            elif text.startswith("data:") and kind == "new":
                self.seen[json.loads(text[5:])["ID"]] = time.perf_counter()


def send(client: smtplib.SMTP, subject: str) -> tuple[str, float]:
    """Send one message; return its ID and the moment 250 was read."""
    client.mail("bench@example.test")
    client.rcpt("latency@example.test")
    code, reply = client.data(f"Subject: {subject}\r\n\r\nbody\r\n".encode())
    at = time.perf_counter()
    assert code == 250, reply
    return reply.decode().rsplit(" ", 1)[-1], at


def fixture_wait_latencies(count: int, store: str) -> list[float]:
    """Measure the pytest fixture's ``wait_for`` the way a test uses it, in-process."""
    from mailsink.pytest_plugin.fixture import MailSink
    from mailsink.pytest_plugin.local import LocalServer
    from mailsink.pytest_plugin.options import PluginOptions

    folder = Path(tempfile.mkdtemp())
    db = "memory" if store == "memory" else str(folder / "fixture.db")
    server = LocalServer(PluginOptions(tls="off", store=db), lambda: folder, "bench")
    latencies = []
    try:
        with smtplib.SMTP(server.host, server.port) as client:
            client.ehlo()
            for n in range(count):
                capture = server.capture()
                mailsink = MailSink(server, capture, timeout=10)
                subject = f"fixture-{n}"
                done: list[float] = []
                waiter = threading.Thread(
                    target=lambda s=subject, d=done, m=mailsink: (
                        m.wait_for(subject=s),
                        d.append(time.perf_counter()),
                    )
                )
                waiter.start()
                time.sleep(0.005)
                _id, at = send(client, subject)
                waiter.join(15)
                latencies.append((done[0] - at) * 1000)
                capture.close()
    finally:
        server.stop()
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=200)
    parser.add_argument("--store", default="memory", choices=["memory", "sqlite"])
    args = parser.parse_args()
    store = "memory" if args.store == "memory" else str(Path(tempfile.mkdtemp()) / "l.db")
    sink = Sink(Settings(smtp_port=0, http_port=0, tls=False, store=store)).start()
    assert sink.http_address is not None
    host, port = "127.0.0.1", sink.http_address[1]
    base = sink.web_url
    sse = SSEReader(host, port)
    sse.start()
    sse.ready.wait(10)
    time.sleep(0.2)
    api, stream, waited = [], [], []
    with smtplib.SMTP(*sink.smtp_address) as client:
        client.ehlo()
        for n in range(args.messages):
            subject = f"latency-{n}-{time.monotonic_ns()}"
            done: list[float] = []

            def wait_request(subject: str = subject, done: list[float] = done) -> None:
                url = f"{base}/api/v1/wait?timeout=10&query=subject:{subject}"
                with urllib.request.urlopen(url, timeout=15) as response:
                    response.read()
                done.append(time.perf_counter())

            waiter = threading.Thread(target=wait_request)
            waiter.start()
            time.sleep(0.01)  # let the wait reach the server before the send
            message_id, at = send(client, subject)
            with urllib.request.urlopen(f"{base}/api/v1/message/{message_id}?peek=1") as r:
                r.read()
            api.append((time.perf_counter() - at) * 1000)
            waiter.join(15)
            waited.append((done[0] - at) * 1000)
            deadline = time.monotonic() + 5
            while message_id not in sse.seen and time.monotonic() < deadline:
                time.sleep(0.0005)
            stream.append((sse.seen[message_id] - at) * 1000)
    sink.stop()
    fixture = fixture_wait_latencies(args.messages, store)
    print(f"{args.messages} messages, {args.store} store; ms from the client reading 250")
    print(f"{'path':<28}{'median':>8}{'p95':>8}{'max':>8}")
    rows = {}
    for name, values in (("API GET (one round trip)", api), ("SSE event: new", stream),
                         ("pending /api/v1/wait", waited),
                         ("fixture wait_for", fixture)):  # fmt: skip
        row = {
            "median_ms": statistics.median(values),
            "p95_ms": percentile(values, 0.95),
            "max_ms": max(values),
        }
        rows[name] = row
        print(f"{name:<28}{row['median_ms']:>8.2f}{row['p95_ms']:>8.2f}{row['max_ms']:>8.2f}")
    print(f"results: {save(f'latency_{args.store}', rows)}")


if __name__ == "__main__":
    main()
