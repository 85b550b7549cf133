"""Logging that never blocks the thread that logs: records go through a bounded queue to a writer.

Why: a plain :class:`logging.StreamHandler` writes to stderr while it holds
its handler lock.  When stderr is a pipe that nobody reads (a process
manager that stopped reading, a test harness that only reads stdout), the
pipe fills after 64 KiB, ``write(2)`` blocks for ever, and then every other
thread that logs blocks on that lock: the SMTP event loop, psycopg_pool's
reconnect worker, the PostgreSQL ``LISTEN`` thread.  A node looked alive
but never reconnected after a database restart (issue 17).

:class:`QueuedStreamHandler` formats a record in the caller's thread and
puts the line in a bounded queue without waiting; one daemon thread writes
the queue to the stream.  When the queue is full the record is dropped and
counted, and once the writer has written again it says how many were lost,
so a stalled stream costs log lines, never service.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from typing import TextIO

CAPACITY = 10_000
"""Lines waiting for the writer at most; more are dropped (and counted)."""

_STOP = object()


class QueuedStreamHandler(logging.Handler):
    """Write log lines to a stream from a thread of its own; never wait for the stream."""

    def __init__(self, stream: TextIO, capacity: int = CAPACITY, timeout: float = 2.0) -> None:
        super().__init__()
        self.stream = stream
        self.timeout = timeout
        """Seconds :meth:`flush` and :meth:`close` wait for a stream that does not take lines."""
        self._queue: queue.Queue[object] = queue.Queue(capacity)
        self._dropped = 0
        self._dropped_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._thread_lock = threading.Lock()

    @property
    def dropped(self) -> int:
        """Return how many records were dropped and not reported yet."""
        with self._dropped_lock:
            return self._dropped

    def emit(self, record: logging.LogRecord) -> None:
        """Queue the formatted line; drop (and count) it when the writer is that far behind."""
        try:
            line = self.format(record)
        except Exception:  # noqa: BLE001 - logging's own convention for a broken record
            self.handleError(record)
            return
        self._ensure_writer()
        try:
            self._queue.put_nowait(line)
        except queue.Full:
            with self._dropped_lock:
                self._dropped += 1

    def _ensure_writer(self) -> None:
        """Start the writer thread at the first record (building a handler starts nothing)."""
        if self._thread is not None:
            return
        with self._thread_lock:
            if self._thread is None:
                thread = threading.Thread(target=self._write, name="mailsink-log-writer")
                thread.daemon = True  # a stream blocked for ever must not keep the process
                thread.start()
                self._thread = thread

    def _write(self) -> None:
        """Write queued lines until told to stop; report drops after each write that worked."""
        while True:
            line = self._queue.get()
            if line is _STOP:
                self._queue.task_done()
                return
            try:
                self.stream.write(f"{line}\n")
                with self._dropped_lock:
                    dropped, self._dropped = self._dropped, 0
                if dropped:
                    self.stream.write(
                        f"mailsink: {dropped} log record(s) dropped: the log stream "
                        "was not being read fast enough\n"
                    )
                self.stream.flush()
            except (OSError, ValueError):
                pass  # a closed or broken stream: nothing to tell it, keep draining
            finally:
                self._queue.task_done()

    def flush(self) -> None:
        """Wait (at most ``timeout`` seconds) until the lines queued so far are written."""
        if self._thread is None:
            return
        deadline = time.monotonic() + self.timeout
        done = self._queue.all_tasks_done
        with done:
            while self._queue.unfinished_tasks:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return  # the stream is stuck: do not hang the caller (or the exit)
                done.wait(remaining)

    def close(self) -> None:
        """Write what is queued (waiting at most ``timeout`` seconds), then stop the writer."""
        thread = self._thread
        if thread is not None:
            with contextlib.suppress(queue.Full):  # stuck: leave the daemon writer to the exit
                self._queue.put(_STOP, timeout=self.timeout)
            thread.join(self.timeout)
            self._thread = None
        super().close()
