"""Ingest: parse and store received messages on one writer thread, in batches.

The SMTP event loop must never wait on parsing or on a disk commit, and a
disk store is much faster when concurrent sessions share one commit.  So the
listener hands each message to :class:`Ingestor`, whose thread takes every
message waiting in its queue, summarises them, stores them in one batch (one
transaction) and only then reports each ID back, and the listener answers 250.
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

Done = Callable[[str, StoredMessage | None, BaseException | None], None]
"""Called with the new ID, the stored message (None if pruned at once) or an error."""


@dataclass(frozen=True, slots=True)
class _Job:
    raw: bytes
    envelope: Envelope
    done: Done


class Ingestor:
    """Own the writer thread that turns raw messages into stored ones."""

    def __init__(self, mailbox: Mailbox) -> None:
        self.mailbox = mailbox
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="mailsink-ingest", daemon=True)
        self._thread.start()

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
            now = time.time()
            incoming = [
                Incoming(new_id(), now, job.raw, job.envelope, summarize(job.raw, job.envelope))
                for job in batch
            ]
            stored = {m.id: m for m in self.mailbox.add(incoming)}
        except BaseException as error:  # noqa: BLE001 - reported to every waiting session
            for job in batch:
                job.done("", None, error)
            return
        for job, item in zip(batch, incoming, strict=False):
            job.done(item.id, stored.get(item.id), None)
