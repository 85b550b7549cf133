"""Logging through a queue: a log stream nobody reads costs log lines, never service.

Real pipes, a real mailsink process; nothing is mocked.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import re
import smtplib
import threading
import time
from collections.abc import Iterator

import pytest

from mailsink.log_queue import QueuedStreamHandler
from procs import start_mailsink

F_SETPIPE_SZ = 1031  # Linux's fcntl to resize a pipe (not in Python's fcntl module before 3.10)


class Pipe:
    """A real pipe one page big: a text stream on its write end, a reader to start later."""

    def __init__(self) -> None:
        read_fd, write_fd = os.pipe()
        fcntl.fcntl(write_fd, F_SETPIPE_SZ, 4096)
        self.stream = os.fdopen(write_fd, "w", encoding="utf-8")
        self._source = os.fdopen(read_fd, "r", encoding="utf-8")
        self.text: list[str] = []
        self._reader = threading.Thread(target=lambda: self.text.append(self._source.read()))

    def start_reading(self) -> None:
        """Read everything written, until the write end is closed, on a thread."""
        self._reader.start()

    def read_all(self, handler: QueuedStreamHandler) -> str:
        """Close the handler and the write end; return all that was written."""
        if not self._reader.is_alive():
            self.start_reading()
        handler.close()
        self.stream.close()
        self._reader.join(10)
        self._source.close()
        return self.text[0]


@pytest.fixture
def pipe() -> Iterator[Pipe]:
    made = Pipe()
    yield made
    for end in (made.stream, made._source):
        with contextlib.suppress(OSError):
            end.close()


def _logger(handler: logging.Handler) -> logging.Logger:
    logger = logging.getLogger(f"test-log-queue-{id(handler)}")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    return logger


def test_a_full_pipe_does_not_block_the_logging_thread(pipe: Pipe) -> None:
    handler = QueuedStreamHandler(pipe.stream, capacity=50)
    logger = _logger(handler)
    count = 2000  # 2000 lines of 100 bytes: 50 times what the pipe holds
    started = time.monotonic()
    for number in range(count):
        logger.info("line %05d %s", number, "x" * 88)
    assert time.monotonic() - started < 5, "a logging call waited for the stream"
    assert handler.dropped > 0

    text = pipe.read_all(handler)
    written = len(re.findall(r"^line \d{5} ", text, re.MULTILINE))
    reports = [int(n) for n in re.findall(r"(\d+) log record\(s\) dropped", text)]
    assert reports, text[-300:]
    assert written + sum(reports) == count, "every record is written or counted"
    assert handler.dropped == 0, "the drops were reported"


def test_the_lines_come_out_in_order_and_close_writes_what_is_queued(pipe: Pipe) -> None:
    handler = QueuedStreamHandler(pipe.stream)
    logger = _logger(handler)
    pipe.start_reading()
    for number in range(200):
        logger.info("line %d", number)
    text = pipe.read_all(handler)
    assert text.splitlines() == [f"line {n}" for n in range(200)]


def test_flush_waits_for_the_writer_and_gives_up_on_a_stuck_stream(pipe: Pipe) -> None:
    handler = QueuedStreamHandler(pipe.stream, timeout=0.3)
    logger = _logger(handler)
    for number in range(200):  # 200 x 100 bytes: more than the pipe holds, nobody reads
        logger.info("line %05d %s", number, "x" * 88)
    started = time.monotonic()
    handler.flush()
    assert 0.25 < time.monotonic() - started < 2, "flush gave up after its timeout"
    pipe.start_reading()
    handler.flush()  # now the writer can finish
    assert handler._queue.unfinished_tasks == 0
    assert len(pipe.read_all(handler).splitlines()) == 200


def test_a_node_whose_stderr_nobody_reads_keeps_answering_smtp() -> None:
    """``-v`` logs every SMTP command on the event loop: without the queue, the loop stops."""
    node = start_mailsink("--smtp", "127.0.0.1:0", "--http", "none", "--no-tls", "-v")
    try:
        assert node.process.stderr is not None
        fcntl.fcntl(node.process.stderr.fileno(), F_SETPIPE_SZ, 4096)
        message = b"Subject: hi\r\nTo: b@example.test\r\n\r\nhello\r\n"
        started = time.monotonic()
        with smtplib.SMTP(*node.smtp, timeout=10) as client:
            for _ in range(300):  # about 10 log lines each: well over 4 KiB
                client.sendmail("a@example.test", ["b@example.test"], message)
        assert time.monotonic() - started < 60
    finally:
        node.process.kill()
        node.process.communicate(timeout=20)
