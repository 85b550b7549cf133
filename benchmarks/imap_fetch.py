"""IMAP FETCH speed against ``cat`` of the same bytes.

    python -m benchmarks.imap_fetch [--store memory|sqlite] [--messages N] [--rounds R]

Two fetches, each over a plain socket to a sink on 127.0.0.1 (read in 1 MB
chunks until the tagged OK, so the client costs next to nothing):

* the headers of N (default 1,000) small messages, ``UID FETCH 1:* BODY.PEEK[HEADER]``,
  and again with FLAGS (which reads each message's record from the store too);
* one 10 MB message, ``UID FETCH <uid> BODY.PEEK[]``.

The baseline is ``cat`` of a file holding the same bytes, read through a pipe
by this process (process start included).  Medians of ``--rounds`` runs; the
ratio is what to compare across machines.
"""

from __future__ import annotations

import argparse
import shutil
import socket
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from benchmarks.results_file import save
from mailsink.config import Settings
from mailsink.imap.parts import head_end
from mailsink.message import Envelope
from mailsink.server import Sink


def small_message(i: int) -> bytes:
    """Return a ~2 KB message with a realistic header block."""
    head = (
        f"From: Sender {i} <sender{i}@example.test>\r\nTo: user@example.test\r\n"
        f"Subject: Message number {i}\r\nDate: Mon, 01 Jan 2024 10:00:00 +0000\r\n"
        f"Message-ID: <{i}@example.test>\r\nMIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
        + "".join(f"X-Trace-{n}: {'t' * 60}\r\n" for n in range(8))
    )
    return (head + "\r\n" + "Body line of text.\r\n" * 60).encode()


def big_message(size: int) -> bytes:
    line = b"0123456789" * 7 + b"\r\n"
    body = line * (size // len(line))
    return b"From: a@example.test\r\nSubject: big\r\n\r\n" + body


def fetch(address: tuple[str, int], command: bytes) -> tuple[float, int]:
    """Log in, select, run one command; return (seconds for the command, bytes read)."""
    with socket.create_connection(address) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        file = sock.makefile("rb")
        file.readline()
        sock.sendall(b"a LOGIN u p\r\nb SELECT INBOX\r\n")
        while not file.readline().startswith(b"b OK"):
            pass
        file.close()
        start = time.perf_counter()
        sock.sendall(b"c " + command + b"\r\n")
        got = bytearray()
        tail = b""
        while True:
            chunk = sock.recv(1 << 20)
            if not chunk:
                raise RuntimeError("connection closed")
            got += chunk
            tail = bytes(got[-200:])
            if b"\r\nc OK" in tail or tail.startswith(b"c OK"):
                break
        return time.perf_counter() - start, len(got)


def cat(path: Path) -> float:
    start = time.perf_counter()
    with subprocess.Popen(["cat", str(path)], stdout=subprocess.PIPE) as proc:
        assert proc.stdout is not None
        while proc.stdout.read(1 << 20):
            pass
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--store", choices=["memory", "sqlite"], default="memory")
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--big", type=int, default=10 * 1024 * 1024)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="mailsink-imap-bench-"))
    store = "memory" if args.store == "memory" else str(folder / "mail.db")
    sink = Sink(Settings(smtp_port=0, http_port=None, imap_port=0, store=store, tls=False))
    sink.start()
    try:
        envelope = Envelope("a@example.test", ("user@example.test",))
        smalls = [small_message(i) for i in range(args.messages)]
        for start in range(0, len(smalls), 200):
            sink.ingestor.store_now([(raw, envelope) for raw in smalls[start : start + 200]])
        big = big_message(args.big)
        sink.ingestor.store_now([(big, envelope)])
        big_uid = sink.store.uids()[-1][0]
        last_small = sink.store.uids()[-2][0]
        headers_file = folder / "headers"
        headers_file.write_bytes(b"".join(raw[: head_end(raw)] for raw in smalls))
        big_file = folder / "big"
        big_file.write_bytes(big)
        address = sink.reader_address("imap")
        cases = {
            "headers": (b"UID FETCH 1:%d BODY.PEEK[HEADER]" % last_small, headers_file),
            "headers_and_flags": (
                b"UID FETCH 1:%d (FLAGS BODY.PEEK[HEADER])" % last_small,
                headers_file,
            ),
            "big": (b"UID FETCH %d BODY.PEEK[]" % big_uid, big_file),
        }
        results = {}
        for name, (command, path) in cases.items():
            fetch(address, command)  # warm up
            imap_times, cat_times, size = [], [], 0
            for _ in range(args.rounds):
                seconds, size = fetch(address, command)
                imap_times.append(seconds)
                cat_times.append(cat(path))
            imap_s, cat_s = statistics.median(imap_times), statistics.median(cat_times)
            results[name] = {
                "payload_bytes": path.stat().st_size,
                "response_bytes": size,
                "imap_ms": round(imap_s * 1000, 2),
                "cat_ms": round(cat_s * 1000, 2),
                "ratio": round(imap_s / cat_s, 1),
                "imap_MB_per_s": round(size / imap_s / 1e6, 1),
            }
            print(f"{args.store:6} {name:17} {results[name]}")
        save(f"imap_fetch_{args.store}", results)
    finally:
        sink.stop()
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
