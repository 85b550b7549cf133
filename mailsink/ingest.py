"""Ingest: parse and store received messages, on the event loop or a writer thread, in batches.

Two paths, one order.  Most messages are summarised and stored right on the
SMTP event loop (:meth:`Ingestor.store_now`, in the batches that
``smtp.GroupCommit`` gathers): handing a message to another thread and its ID
back cost more than the work itself (about 0.3 ms of a 1 KB message's 1 ms,
mostly GIL hand-offs and wake-ups), and a second thread buys no parallelism
for Python code anyway.  Messages larger than ``inline_max`` go to the writer
thread (:meth:`Ingestor.submit`) so that parsing a huge message does not
stall every other session, and so do all messages when commits are slow
(``--store-sync full`` fsyncs each one): the thread takes every message
waiting in its queue and stores them in one batch, so concurrent sessions
share one commit.  Either way the listener answers 250 only once the message
is stored, and IDs are given out in the order messages are stored.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from mailsink.mailbox import Mailbox
from mailsink.message import Envelope, new_id, summarize
from mailsink.store.base import Incoming, StoredMessage

MAX_BATCH = 256
INLINE_MAX = 256 * 1024
"""Messages up to this size are stored on the event loop (see the module docstring).

About 1 ms of parsing and storing at this size; a hostile MIME structure is
bounded by ``mime.MAX_PARTS``."""

Done = Callable[[str, StoredMessage | None, BaseException | None], None]
"""Called with the new ID, the stored message (None if pruned at once) or an error."""


@dataclass(frozen=True, slots=True)
class _Job:
    raw: bytes
    envelope: Envelope
    done: Done


class Ingestor:
    """Turn raw messages into stored ones: in the caller's thread, or on the writer thread."""

    def __init__(self, mailbox: Mailbox, inline_max: int = INLINE_MAX) -> None:
        self.mailbox = mailbox
        self.inline_max = inline_max
        self._order = threading.Lock()
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="mailsink-ingest", daemon=True)
        self._thread.start()

    def stores_inline(self, size: int) -> bool:
        """Tell whether a message of this size should be stored with :meth:`store_now`."""
        return size <= self.inline_max

    def store_now(self, items: list[tuple[bytes, Envelope]]) -> list[str]:
        """Summarise and store messages in the calling thread, in one batch; return their IDs.

        An ID is returned even if ``--max-messages`` pruned its message at
        once, as the writer thread's path reports it; raises if storing failed.
        """
        incoming, _stored = self._add(items)
        return [item.id for item in incoming]

    def _add(
        self, items: list[tuple[bytes, Envelope]]
    ) -> tuple[list[Incoming], list[StoredMessage]]:
        """Summarise messages, then give out their IDs and store them under one lock.

        Both paths come here, so IDs are given out in the order messages are
        stored.  Returns what was received and what is stored (not pruned).
        """
        summaries = [summarize(raw, envelope) for raw, envelope in items]
        with self._order:
            now = time.time()
            incoming = [
                Incoming(new_id(), now, raw, envelope, summary)
                for (raw, envelope), summary in zip(items, summaries, strict=True)
            ]
            return incoming, self.mailbox.add(incoming)

    def submit(self, raw: bytes, envelope: Envelope, done: Done) -> None:
        """Queue a message; ``done`` is called from the writer thread when it is stored."""
        self._jobs.put(_Job(raw, envelope, done))

    def ingest(self, raw: bytes, envelope: Envelope, timeout: float = 60.0) -> StoredMessage:
        """Store a message and return it once it is stored (blocking)."""
        finished = threading.Event()
        result: list[StoredMessage | BaseException | None] = [None]

        def done(_id: str, stored: StoredMessage | None, error: BaseException | None) -> None:
            result[0] = error if error is not None else stored
            finished.set()

        self.submit(raw, envelope, done)
        if not finished.wait(timeout):
            raise TimeoutError("the message was not stored in time")
        outcome = result[0]
        if isinstance(outcome, BaseException):
            raise outcome
        if outcome is None:
            raise RuntimeError("the message was stored and pruned at once (max messages?)")
        return outcome

    def close(self, timeout: float = 30.0) -> None:
        """Finish the queued messages and stop the writer thread."""
        self._jobs.put(None)
        self._thread.join(timeout)

    def _run(self) -> None:
        """Take batches of jobs until told to stop."""
        while True:
            job = self._jobs.get()
            if job is None:
                return
            batch = [job]
            stop = False
            while len(batch) < MAX_BATCH:
                try:
                    more = self._jobs.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    stop = True
                    break
                batch.append(more)
            self._store(batch)
            if stop:
                return

    def _store(self, batch: list[_Job]) -> None:
        """Summarise and store one batch, then report to each job."""
        try:
            incoming, added = self._add([(job.raw, job.envelope) for job in batch])
            stored = {m.id: m for m in added}
        except BaseException as error:  # noqa: BLE001 - reported to every waiting session
            for job in batch:
                job.done("", None, error)
            return
        for job, item in zip(batch, incoming, strict=False):
            job.done(item.id, stored.get(item.id), None)
