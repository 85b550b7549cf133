"""Ingest: the one write path by which every message enters mailsink.

Every way mail arrives calls :class:`Ingestor`: the SMTP handler (from the
event loop, :meth:`Ingestor.receive`), ``POST /api/v1/send`` and anything else
running on a thread (:meth:`Ingestor.ingest`).  Both summarise the message,
give out its ID and store it under one lock, so IDs follow the order in which
messages are stored, and both return only once the message is stored (for the
SQLite store: committed), which is what lets the listener answer 250 only for
mail that can no longer be lost.

Where a message is stored - decided here and nowhere else (:meth:`Ingestor.summary_on_loop`):

* **On the event loop, in groups** (:class:`GroupCommit`) for messages whose
  parse is cheap: up to ``inline_max`` (256 KB) and a cost of at most
  :data:`INLINE_MAX_COST` (about 10 ms), counted by the outline parse as it
  goes or, for mail it declines, estimated by :func:`parse_cost`.  Size alone
  is not the cost: 229 KB of one Content-Type with 24,000 parameters, or of
  20,000 header lines, parse 100 times slower than 229 KB of text, and on
  the loop they stalled every other session for seconds.  Handing a message
  to another thread and its ID back cost more than the work itself (about
  0.3 ms of a 1 KB message's 1 ms, mostly GIL hand-offs and wake-ups), and
  a second thread buys no parallelism for Python code anyway.  The messages
  whose DATA ends at about the same moment share one store call: one SQLite
  transaction instead of one each.
* **On the writer thread** for larger or costlier messages, so that parsing
  one does not stall every other session, and for every message when commits
  are slow (``--store-sync full`` fsyncs each one: ``inline_max`` is 0 then).  The
  thread takes every message waiting in its queue and stores them as one
  batch, so concurrent sessions share one commit there too.  Callers on a
  thread (the send API) always use it.
* **On the event loop, awaited, when a commit is a network round trip**
  (the PostgreSQL store, a :class:`~mailsink.store.base.LoopStore`): the
  cheap messages are summarised on the loop as above, and the batch is sent
  on the loop's own async connection (``postgres/loop_conn.py``).  The loop
  keeps reading DATA while the commit is in flight, and what arrives
  meanwhile is the next batch (one batch in flight per loop).  The writer
  threads this path replaced cost more node CPU in hand-offs than the batch's
  SQL, and split ten sessions into batches of three to five.
* **On the writer thread for every message** of a store whose commit is a
  network round trip but that cannot be awaited (``remote_commit`` without
  ``add_async``): a blocking commit on the loop would stall every session
  for a round trip, and up to the connect timeout while the database is
  away.  :func:`inline_limit` makes this choice.

A batch fails only the message that caused it: when a shared store call
raises, each message of the batch is stored again on its own, so one bad
message (one the store cannot take) costs the others a retry, never a 451.

Lifecycle: building an Ingestor starts nothing; :meth:`Ingestor.start` starts
the writer thread and :meth:`Ingestor.close` finishes the queue and stops it.
"""

from __future__ import annotations

import asyncio
import queue
import re
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass

from mailsink.headers import header_end
from mailsink.mailbox import Mailbox
from mailsink.message import Envelope, Summary, new_id, summarize, summary_of
from mailsink.mime import parse_bytes
from mailsink.outline import HEADER_LINE_COST, PART_COST, parse_outline
from mailsink.stats import Stats
from mailsink.store.base import Incoming, LoopStore, StoredMessage

MAX_BATCH = 256
INLINE_MAX = 256 * 1024
"""Messages up to this size are stored on the event loop (see the module docstring).

About 1 ms of parsing and storing at this size; a hostile MIME structure is
bounded by ``mime.MAX_PARTS``."""

INLINE_MAX_COST = 10_000
"""The most :func:`parse_cost` a message stored on the event loop may have (about 10 ms)."""


_BOUNDARY_LINE = re.compile(rb"\n--")
"""Where a MIME boundary line may start: ``re`` finds it by memchr on the LF.

``bytes.count(b"\\n--")`` took 169 us on a 232 KB newsletter, ``re`` 83 us
(the whole estimate 272 -> ~180 us, some 3% of the newsletter's ingest CPU).
"""


def parse_cost(raw: bytes, limit: int = INLINE_MAX_COST) -> int:
    """Estimate the work of summarising a message, in units of about a microsecond.

    Counted with C-speed scans (tens of microseconds for 256 KB), from what
    the parse costs per item, measured on CPython 3.11: a line 1 unit, a
    header line 5 more, a MIME boundary line 40 more (the outline parse's own
    :data:`~mailsink.outline.HEADER_LINE_COST` and ``PART_COST``).  Header parameters need no
    term: the parse reads at most ``mime.MAX_PARAMS`` of them.  Exact up to
    ``limit``; past it, some value over ``limit`` (boundary lines are counted
    only until the estimate passes it, so a message of 80,000 of them costs
    no more to judge than one of a few).
    """
    lines = raw.count(b"\n")
    end = header_end(raw)
    header_lines = raw.count(b"\n", 0, end) if end >= 0 else lines
    cost = lines + (HEADER_LINE_COST - 1) * header_lines  # each line is counted once above
    for _ in _BOUNDARY_LINE.finditer(raw):
        if cost > limit:
            break
        cost += PART_COST
    return cost


Item = tuple[bytes, Envelope, "Summary | None"]
"""A message to store: raw bytes, envelope, and its summary if it was made already."""

Done = Callable[[str, StoredMessage | None, BaseException | None], None]
"""Called with the new ID, the stored message (None if pruned at once) or an error."""


@dataclass(frozen=True, slots=True)
class _Job:
    raw: bytes
    envelope: Envelope
    done: Done


def inline_limit(store: object, store_sync: str = "normal") -> int:
    """Return the ``inline_max`` for a store: 0 (all on the writer thread) or INLINE_MAX.

    0 when commits are slow (``--store-sync full``: an fsync each) or go over
    the network from a store that cannot await them (``remote_commit``
    without ``add_async``); see the module docstring.
    """
    if store_sync == "full":
        return 0
    if getattr(store, "remote_commit", False) and not isinstance(store, LoopStore):
        return 0
    return INLINE_MAX


REMOTE_WRITERS = 4
"""Writer threads for a store whose commit is a network round trip (:func:`writer_count`)."""


def writer_count(store: object) -> int:
    """Return how many writer threads store batches for this store at once.

    One, so that IDs follow the order of commits, except for a store whose
    commit is a network round trip (``remote_commit``): there a batch spends
    most of its time waiting for the database's WAL flush, and with one
    writer each batch also waits for the one before it.  With several, the
    next batch is on its way while the last one commits (PostgreSQL flushes
    concurrent commits together).  Nodes of a shared store order by ID, not
    by commit, so nothing is lost by it.
    """
    return REMOTE_WRITERS if getattr(store, "remote_commit", False) else 1


class Ingestor:
    """Summarise, number and store received messages; the only way mail enters a mailbox."""

    def __init__(
        self,
        mailbox: Mailbox,
        inline_max: int = INLINE_MAX,
        stats: Stats | None = None,
        writers: int = 1,
    ) -> None:
        """``writers`` > 1 stores that many batches at once (see :func:`writer_count`)."""
        self.mailbox = mailbox
        self.inline_max = inline_max
        self.writers = max(1, writers)
        self.stats = stats if stats is not None else Stats()
        """Counts what is stored and how long storing took (``RuntimeStats``, ``/metrics``)."""
        self._order = threading.Lock()
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._group_commits: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, GroupCommit] = (
            weakref.WeakKeyDictionary()
        )

    def start(self) -> Ingestor:
        """Start the writer thread(s) (idempotent); return self."""
        if not self._threads:
            self._threads = [
                threading.Thread(target=self._run, name="mailsink-ingest", daemon=True)
                for _ in range(self.writers)
            ]
            for thread in self._threads:
                thread.start()
        return self

    def close(self, timeout: float = 30.0) -> None:
        """Finish the queued messages and stop the writer thread(s)."""
        threads, self._threads = self._threads, []
        for _thread in threads:
            self._jobs.put(None)  # each thread ends on the first None it takes
        for thread in threads:
            thread.join(timeout)

    def summary_on_loop(self, raw: bytes, envelope: Envelope) -> Summary | None:
        """Summarise a message that is cheap to parse; None: it is stored on the writer thread.

        The outline parse counts its own cost and gives up past
        :data:`INLINE_MAX_COST`; only mail it declines for other reasons (a
        ``message/rfc822`` part, a bare CR, a defect) is estimated by
        :func:`parse_cost` before the feed parser takes it here.
        """
        if len(raw) > self.inline_max:
            return None
        outline = parse_outline(raw, max_cost=INLINE_MAX_COST)
        if outline is not None:
            return summary_of(outline, raw, envelope)
        if parse_cost(raw) > INLINE_MAX_COST:
            return None
        return summary_of(parse_bytes(raw), raw, envelope)

    async def receive(self, raw: bytes, envelope: Envelope) -> str:
        """Store a message received on an event loop; return its ID once it is stored.

        Raises what storing raised; the SMTP handler turns that into a 451.
        """
        summary = self.summary_on_loop(raw, envelope)
        if summary is not None:
            loop = asyncio.get_running_loop()
            group = self._group_commits.get(loop)
            if group is None:
                group = self._group_commits[loop] = GroupCommit(self)
            return await group.store(raw, envelope, summary)
        return await self._on_writer_thread(raw, envelope)

    def ingest(self, raw: bytes, envelope: Envelope, timeout: float = 60.0) -> StoredMessage:
        """Store a message from a thread (not the event loop) and return it once stored."""
        finished = threading.Event()
        result: list[StoredMessage | BaseException | None] = [None]

        def done(_id: str, stored: StoredMessage | None, error: BaseException | None) -> None:
            result[0] = error if error is not None else stored
            finished.set()

        self._submit(raw, envelope, done)
        if not finished.wait(timeout):
            raise TimeoutError("the message was not stored in time")
        outcome = result[0]
        if isinstance(outcome, BaseException):
            raise outcome
        if outcome is None:
            raise RuntimeError("the message was stored and pruned at once (max messages?)")
        return outcome

    def store_batch(self, items: list[tuple[bytes, Envelope]]) -> list[str]:
        """Summarise and store messages in the calling thread, as one batch; return their IDs.

        An ID is returned even if ``--max-messages`` pruned its message at
        once, as the writer thread's path reports it; raises if storing failed.
        """
        return self._store_ids([(raw, envelope, None) for raw, envelope in items])

    def _store_ids(self, items: list[Item]) -> list[str]:
        """Store a batch (summaries made where missing) and return the new IDs."""
        incoming, _stored = self._add(items)
        return [item.id for item in incoming]

    async def _on_writer_thread(self, raw: bytes, envelope: Envelope) -> str:
        """Hand a message to the writer thread and wait for its ID without blocking the loop."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[str] = loop.create_future()

        def done(
            message_id: str, _stored: StoredMessage | None, error: BaseException | None
        ) -> None:
            loop.call_soon_threadsafe(_settle, future, message_id, error)

        self._submit(raw, envelope, done)
        return await future

    def _submit(self, raw: bytes, envelope: Envelope, done: Done) -> None:
        """Queue a message; ``done`` is called from the writer thread when it is stored."""
        if not self._threads:
            raise RuntimeError("the ingestor is not running: call start() first")
        self._jobs.put(_Job(raw, envelope, done))

    def _add(self, items: list[Item]) -> tuple[list[Incoming], list[StoredMessage]]:
        """Summarise messages (those without one), give out their IDs, store them under one lock.

        Both paths come here, so IDs are given out in the order messages are
        stored.  Returns what was received and what is stored (not pruned).
        """
        began = time.perf_counter()
        summaries = [_summary(item) for item in items]
        with self._order:
            incoming = _number(items, summaries)
            if self.writers == 1:
                stored = self.mailbox.add(incoming)
        if self.writers > 1:
            # Several writers (a shared store): batches commit side by side, and the
            # IDs, given out in order above, are what the store lists by.
            stored = self.mailbox.add(incoming)
        self._record(items, began)
        return incoming, stored

    async def _add_async(self, items: list[Item]) -> list[str]:
        """:meth:`_add` from the event loop, awaiting the store (``Mailbox.add_async``).

        Only for a shared store (a :class:`LoopStore`), which lists by ID:
        the lock gives out IDs in order, the commit may follow a writer
        thread's, as with several writers.
        """
        began = time.perf_counter()
        summaries = [_summary(item) for item in items]
        with self._order:
            incoming = _number(items, summaries)
        await self.mailbox.add_async(incoming)
        self._record(items, began)
        return [item.id for item in incoming]

    def _record(self, items: list[Item], began: float) -> None:
        """Count a stored batch in the stats."""
        size = sum(len(raw) for raw, _envelope, _summary in items)
        self.stats.record_stored(len(items), size, time.perf_counter() - began)

    def store_each(self, items: list[Item]) -> list[str | Exception]:
        """Store messages as one batch; if that fails, each on its own; return IDs or errors.

        So a message the store refuses fails alone, not every message that
        happened to share its commit.
        """
        try:
            return list(self._store_ids(items))
        except Exception as error:  # noqa: BLE001 - retried one by one below
            if len(items) == 1:
                return [error]
        outcomes: list[str | Exception] = []
        for item in items:
            try:
                outcomes.extend(self._store_ids([item]))
            except Exception as error:  # noqa: BLE001 - this message's own failure
                outcomes.append(error)
        return outcomes

    async def store_each_async(self, items: list[Item]) -> list[str | Exception]:
        """:meth:`store_each` from the event loop, for a store that adds from it."""
        try:
            return list(await self._add_async(items))
        except Exception as error:  # noqa: BLE001 - retried one by one below
            if len(items) == 1:
                return [error]
        outcomes: list[str | Exception] = []
        for item in items:
            try:
                outcomes.extend(await self._add_async([item]))
            except Exception as error:  # noqa: BLE001 - this message's own failure
                outcomes.append(error)
        return outcomes

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
        """Summarise and store one batch, then report to each job (retried alone on failure)."""
        try:
            incoming, added = self._add([(job.raw, job.envelope, None) for job in batch])
            stored = {m.id: m for m in added}
        except BaseException as error:  # noqa: BLE001 - reported to the session(s) it concerns
            if len(batch) > 1 and isinstance(error, Exception):
                for job in batch:
                    self._store([job])
                return
            for job in batch:
                job.done("", None, error)
            return
        for job, item in zip(batch, incoming, strict=False):
            job.done(item.id, stored.get(item.id), None)


Pending = list[tuple[bytes, Envelope, Summary, "asyncio.Future[str]"]]


class GroupCommit:
    """Store the messages whose DATA ends at about the same moment as one batch, on the loop.

    Each message waits for the event loop to go round twice (microseconds)
    before it is stored, so that the other sessions' data already in the
    socket buffers finishes too and they share one store call.  For a store
    that adds from the loop (``Mailbox.stores_from_loop``) the store call is
    awaited: one batch is in flight at a time, and the messages that arrive
    while it commits are the next batch, sent as soon as it is done.
    """

    def __init__(self, ingestor: Ingestor) -> None:
        self.ingestor = ingestor
        self._pending: Pending = []
        self._awaits = ingestor.mailbox.stores_from_loop
        self._flushing: asyncio.Task[None] | None = None
        """The task storing batches from the loop, while one is in flight."""

    async def store(self, raw: bytes, envelope: Envelope, summary: Summary) -> str:
        """Store a summarised message with those that arrive alongside it; return its ID."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[str] = loop.create_future()
        self._pending.append((raw, envelope, summary, future))
        if len(self._pending) == 1 and self._flushing is None:
            loop.call_soon(loop.call_soon, self._flush)
        return await future

    def _flush(self) -> None:
        """Store everything pending and settle each waiting session."""
        if self._awaits:
            if self._flushing is None:
                self._flushing = asyncio.get_running_loop().create_task(self._flush_awaited())
            return
        pending, self._pending = self._pending, []
        outcomes = self.ingestor.store_each(_items(pending))
        _settle_all(pending, outcomes)

    async def _flush_awaited(self) -> None:
        """Store batch after batch from the loop until nothing is pending."""
        try:
            while self._pending:
                pending, self._pending = self._pending, []
                items = _items(pending)
                try:
                    outcomes = await self.ingestor.store_each_async(items)
                except asyncio.CancelledError:  # the loop stops: these sessions get no 250
                    _settle_all(pending, [RuntimeError("storing was cancelled")] * len(pending))
                    raise
                _settle_all(pending, outcomes)
        finally:
            self._flushing = None


def _items(pending: Pending) -> list[Item]:
    """Return the messages of pending sessions, without their futures."""
    return [(raw, envelope, summary) for raw, envelope, summary, _future in pending]


def _settle_all(pending: Pending, outcomes: list[str | Exception]) -> None:
    """Settle each waiting session's future with its message's ID or error."""
    for (_raw, _envelope, _summary, future), outcome in zip(pending, outcomes, strict=True):
        if future.done():
            continue
        if isinstance(outcome, Exception):
            future.set_exception(outcome)  # this session answers 451
        else:
            future.set_result(outcome)


def _summary(item: Item) -> Summary:
    """Return an item's summary, made now if it came without one."""
    raw, envelope, summary = item
    return summary if summary is not None else summarize(raw, envelope)


def _number(items: list[Item], summaries: list[Summary]) -> list[Incoming]:
    """Give each summarised message its ID and time of receipt (under the ingestor's lock)."""
    now = time.time()
    return [
        Incoming(new_id(), now, raw, envelope, summary)
        for (raw, envelope, _), summary in zip(items, summaries, strict=True)
    ]


def _settle(future: asyncio.Future[str], message_id: str, error: BaseException | None) -> None:
    """Resolve a writer-thread future on the loop thread, unless the session is gone."""
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(message_id)
