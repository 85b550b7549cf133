"""The relayer: release on request, auto-relay by rule, retry with backoff, remember every attempt.

Threads and queues (started by :meth:`Relayer.start`, stopped by
:meth:`Relayer.stop`; building a Relayer starts nothing):

* **watch** reads the mailbox's events (a bounded queue of its own, so the
  SMTP side never waits for it).  A ``new`` message that matches an
  auto-relay rule becomes a pending :class:`RelayJob`, written to the store
  at once, then scheduled.  ``delete`` and ``truncate`` forget the jobs of
  the messages that went.
* **send** takes due jobs from a schedule (a heap by due time) one at a time
  and makes one attempt each: ``sent`` or ``failed`` ends the job,
  ``deferred`` schedules it again after ``retry_base * 2**n`` seconds (at most
  ``retry_max``), up to ``max_attempts``.

A release (``POST .../release``) makes its first attempt in the caller's
thread so that the caller hears the upstream's answer; a deferral is then
retried by the send thread like any other job.  Every change to a job is
written to the store before the next step (``put_relay``), and ``start()``
schedules the store's pending jobs again, so a restart with a disk store
resumes where the last run stopped.  Only ``settings.upstream`` is ever
connected to.

A store that several nodes share (PostgreSQL: :class:`RelayLeases`) keeps
the schedule itself: a node leases a job before each attempt (a release
at once, in the caller's thread; others when the send thread asks the
store for due jobs, every ``POLL`` seconds or when this node made one), and
writing the outcome ends the lease.  So each attempt is made by one node,
and the jobs of a node that died are taken over once its leases run out.
"""

from __future__ import annotations

import dataclasses
import heapq
import logging
import secrets
import threading
import time
from collections.abc import Callable
from email.utils import parseaddr
from typing import Literal

from mailsink.events import Subscription
from mailsink.mailbox import Mailbox
from mailsink.relay.client import Outcome, deliver
from mailsink.relay.settings import RelaySettings
from mailsink.relay.trail import relayed_bytes
from mailsink.search import parse_query
from mailsink.store.base import StoredMessage
from mailsink.store.relays import RelayAttempt, RelayJob, RelayLeases

log = logging.getLogger(__name__)

MAX_RECIPIENTS = 100
"""Recipients at most per release request."""

POLL = 0.5
"""Seconds between asks for due jobs, with a store that leases them (a cheap indexed query)."""

TAKE = 10
"""Jobs leased per ask, at most."""


def lease_seconds(settings: RelaySettings) -> float:
    """Return how long a lease lasts: well past the longest attempt (its every step may wait)."""
    return max(5.0, 10 * settings.timeout)


class RelayRefusedError(ValueError):
    """A release that is not allowed (no recipients, the allowlist, a vanished message)."""


Deliver = Callable[[RelayJob, bytes], Outcome]


class Relayer:
    """Send stored mail to the configured upstream; one per sink with ``--relay``."""

    def __init__(self, mailbox: Mailbox, settings: RelaySettings, hostname: str) -> None:
        self.mailbox = mailbox
        self.settings = settings
        self.hostname = hostname
        store = mailbox.store
        self._rules = [(rule, store.matcher(parse_query(rule.query))) for rule in settings.auto]
        self._leases = store if isinstance(store, RelayLeases) else None
        self._lease = lease_seconds(settings)
        self._poke = False  # a leased job was made here: ask the store now, not at the next POLL
        self._lock = threading.Condition()
        self._schedule: list[tuple[float, int, str]] = []  # (due, order, job ID)
        self._jobs: dict[str, RelayJob] = {}  # scheduled jobs by ID
        self._order = 0
        self._stopping = False
        self._sub: Subscription | None = None
        self._threads: list[threading.Thread] = []

    # -- lifecycle
    def start(self) -> Relayer:
        """Resume the store's pending jobs and start the watch and send threads."""
        if self._threads:
            return self
        self._stopping = False
        # Other nodes' new mail is theirs to auto-relay: only their deletions matter here.
        self._sub = self.mailbox.events.subscribe(remote_kinds=("delete", "truncate"))
        if self._leases is None:
            for job in self.mailbox.store.pending_relays():
                self._enqueue(job)
        send = self._send_due if self._leases is None else self._send_leased
        for target, name in ((self._watch, "watch"), (send, "send")):
            thread = threading.Thread(target=target, name=f"mailsink-relay-{name}", daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stop both threads; pending jobs stay in the store for the next start."""
        with self._lock:
            self._stopping = True
            self._lock.notify_all()
        for thread in self._threads:
            thread.join(timeout)
        self._threads.clear()
        if self._sub is not None:
            self._sub.close()
            self._sub = None

    # -- release
    def check_recipients(self, to: list[str]) -> tuple[str, ...]:
        """Return the recipients of a release, or raise RelayRefusedError saying why not."""
        # "Name <addr>" is accepted, as Mailpit does; only the address is used.
        cleaned = tuple(dict.fromkeys((parseaddr(a)[1] or a).strip() for a in to if a.strip()))
        if not cleaned:
            raise RelayRefusedError("give the recipients to release to: nothing relays by accident")
        if len(cleaned) > MAX_RECIPIENTS:
            raise RelayRefusedError(f"at most {MAX_RECIPIENTS} recipients per release")
        bad = [a for a in cleaned if not _plain_address(a)]
        if bad:
            raise RelayRefusedError(f"not an email address: {bad[0]!r}")
        refused = [a for a in cleaned if not self.settings.allows(a)]
        if refused:
            raise RelayRefusedError(
                f"not allowed by the relay allowlist ({self.settings.allow}): {', '.join(refused)}"
            )
        return cleaned

    def release(self, message_id: str, to: list[str]) -> RelayJob:
        """Send a stored message to ``to`` now; return the job after its first attempt."""
        recipients = self.check_recipients(to)
        message = self.mailbox.store.get(message_id)
        if message is None:
            raise RelayRefusedError(f"message {message_id!r} not found")
        job = self._new_job(message, recipients, "release")
        if self._leases is not None:
            self._leases.claim_relay(job, self._lease)  # no other node attempts it meanwhile
        else:
            self.mailbox.store.put_relay(job)
        return self._attempt(job)

    def jobs(self, message_id: str) -> list[RelayJob]:
        """Return every relay job of one message, oldest first."""
        return self.mailbox.store.relays(message_id)

    # -- the threads
    def _watch(self) -> None:
        """Turn new matching messages into jobs; forget the jobs of deleted ones."""
        sub = self._sub
        assert sub is not None
        while not self._stopping:
            event = sub.get(0.2)
            if sub.overflowed:
                sub.overflowed = False
                log.warning("relay: events were lost (a burst of mail); some auto-relays skipped")
            if event is None:
                continue
            try:
                if event.kind == "new" and self._rules and not event.remote:  # (never remote)
                    self._auto(event.message)
                elif event.kind == "delete":
                    self._forget(list(event.changed.ids))
                elif event.kind == "truncate":
                    self._forget(None)
            except Exception:
                log.exception("relay: handling a %s event failed", event.kind)

    def _auto(self, message: StoredMessage) -> None:
        """Make one job per matching rule (its fixed recipients, or the message's own)."""
        for rule, matches in self._rules:
            if not matches(message):
                continue
            recipients = rule.to or message.envelope.rcpt_tos
            allowed = tuple(r for r in recipients if self.settings.allows(r))
            if not allowed:
                continue
            job = self._new_job(message, allowed, "auto")
            self.mailbox.store.put_relay(job)
            self._enqueue(job)  # with leases: whichever node asks first attempts it

    def _forget(self, message_ids: list[str] | None) -> None:
        with self._lock:
            for job_id, job in list(self._jobs.items()):
                if message_ids is None or job.message_id in message_ids:
                    del self._jobs[job_id]
        self.mailbox.store.forget_relays(message_ids)

    def _send_due(self) -> None:
        """Attempt each job when it is due, one at a time."""
        while True:
            with self._lock:
                job = None
                while not self._stopping:
                    if self._schedule:
                        due, _, job_id = self._schedule[0]
                        wait = due - time.time()
                        if wait <= 0:
                            heapq.heappop(self._schedule)
                            job = self._jobs.pop(job_id, None)
                            if job is not None:
                                break
                            continue
                        self._lock.wait(min(wait, 1.0))
                    else:
                        self._lock.wait(1.0)
                if self._stopping:
                    return
            assert job is not None
            try:
                self._attempt(job)
            except Exception:
                log.exception("relay: an attempt for message %s failed", job.message_id)

    def _send_leased(self) -> None:
        """Lease the due jobs from the store and attempt each, until stopped."""
        assert self._leases is not None
        failing = False  # say so once per outage, not every POLL
        while True:
            with self._lock:
                if not self._poke and not self._stopping:
                    self._lock.wait(POLL)
                self._poke = False
                if self._stopping:
                    return
            try:
                jobs = self._leases.take_relays(self._lease, TAKE)
            except Exception as error:  # noqa: BLE001 - the database is away: ask again later
                if not failing:
                    log.warning("relay: cannot ask the store for due jobs (retrying): %s", error)
                failing = True
                continue
            failing = False
            for index, job in enumerate(jobs):
                if self._stopping:
                    self._give_back(jobs[index:])
                    return
                try:
                    self._attempt(job)
                except Exception:
                    log.exception("relay: an attempt for message %s failed", job.message_id)

    def _give_back(self, jobs: list[RelayJob]) -> None:
        """End the leases of jobs taken but not attempted, so another node need not wait."""
        for job in jobs:
            try:
                self.mailbox.store.put_relay(job)
            except Exception:  # the lease runs out by itself
                log.debug("relay: giving job %s back failed", job.id, exc_info=True)

    # -- one attempt
    def _attempt(self, job: RelayJob) -> RelayJob:
        """Make one attempt, record it on the job, and schedule a retry when deferred."""
        store = self.mailbox.store
        message = store.get(job.message_id)
        raw = store.raw(job.message_id)
        if message is None or raw is None:
            store.forget_relays([job.message_id])
            return job
        data = relayed_bytes(raw, message.id, message.envelope, self.hostname, job.origin)
        s = self.settings
        outcome = deliver(s.upstream, job.mail_from, job.rcpt_tos, data, self.hostname, s.timeout)
        attempt = RelayAttempt(time.time(), job.rcpt_tos, outcome.result, outcome.reply)
        attempts = (*job.attempts, attempt)
        retry = outcome.retry if outcome.result == "sent" else job.rcpt_tos
        state: Literal["pending", "sent", "failed"] = (
            "sent" if outcome.result == "sent" and not retry else "pending"
        )
        if outcome.result == "failed" or (state == "pending" and len(attempts) >= s.max_attempts):
            state = "failed"
        next_at = 0.0
        if state == "pending":
            deferrals = sum(1 for a in attempts if a.result == "deferred") or 1
            next_at = time.time() + min(s.retry_base * 2 ** (deferrals - 1), s.retry_max)
        job = dataclasses.replace(
            job, rcpt_tos=retry or job.rcpt_tos, state=state, attempts=attempts, next_at=next_at
        )
        store.put_relay(job)
        log.info(
            "relay: message %s to %s via %s: %s (%s)",
            job.message_id,
            ", ".join(attempt.to),
            s.upstream.display(),
            outcome.result,
            outcome.reply,
        )
        if job.pending:
            self._enqueue(job)  # with leases: stored with its next_at, leased again when due
        return job

    def _new_job(
        self, message: StoredMessage, to: tuple[str, ...], origin: Literal["release", "auto"]
    ) -> RelayJob:
        sender = self.settings.sender
        mail_from = message.envelope.mail_from if sender is None else sender
        return RelayJob(
            id=f"r{time.time_ns():x}{secrets.token_hex(3)}",
            message_id=message.id,
            mail_from=mail_from,
            rcpt_tos=to,
            origin=origin,
            next_at=time.time(),
        )

    def _enqueue(self, job: RelayJob) -> None:
        with self._lock:
            if self._leases is not None:
                self._poke = True  # the store holds the schedule: ask it now
                self._lock.notify_all()
                return
            self._order += 1
            self._jobs[job.id] = job
            heapq.heappush(self._schedule, (job.next_at, self._order, job.id))
            self._lock.notify_all()

    def pending_count(self) -> int:
        """Return how many jobs wait for an attempt."""
        with self._lock:
            return len(self._jobs)


def _plain_address(address: str) -> bool:
    """Tell whether a string is one bare address (no display name, no control characters)."""
    local, at, domain = address.rpartition("@")
    return (
        bool(at and local and domain)
        and len(address) <= 320
        and not any(ord(ch) < 33 or ord(ch) == 127 or ch in '<>,;"()' for ch in address)
    )
