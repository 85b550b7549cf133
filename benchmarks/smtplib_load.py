"""Send load with Python's smtplib from several processes, as a real application would.

    python -m benchmarks.smtplib_load PORT MESSAGES PROCESSES SIZE

Each process sends its share of MESSAGES, one connection (EHLO, MAIL, RCPT,
DATA, QUIT) per message, SIZE bytes each, to 127.0.0.1:PORT, then exits.
"""

from __future__ import annotations

import multiprocessing
import smtplib
import sys


def send(port: int, count: int, size: int, worker: int) -> None:
    """Send ``count`` messages of about ``size`` bytes, a connection each."""
    for n in range(count):
        head = f"From: app@bench.test\r\nTo: sink@bench.test\r\nSubject: w{worker} n{n}\r\n\r\n"
        body = head + "x" * max(0, size - len(head) - 2) + "\r\n"
        with smtplib.SMTP("127.0.0.1", port, local_hostname="bench") as client:
            client.sendmail("app@bench.test", ["sink@bench.test"], body.encode())


def main() -> None:
    port, messages, processes, size = (int(a) for a in sys.argv[1:5])
    share = [messages // processes + (i < messages % processes) for i in range(processes)]
    workers = [
        multiprocessing.Process(target=send, args=(port, n, size, i)) for i, n in enumerate(share)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
        if worker.exitcode:
            raise SystemExit(f"a sender failed ({worker.exitcode})")


if __name__ == "__main__":
    main()
