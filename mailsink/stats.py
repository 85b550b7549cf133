"""Runtime counters of one sink: what Mailpit's ``RuntimeStats`` and ``/metrics`` report.

The counters are plain integers under one lock, fed where things happen:
ingest (:meth:`Stats.record_stored`, with how long storing took), the SMTP
handler (sessions, TLS, rejections by reason) and the web app (requests by
route and status).  Deletions are counted from the mailbox's events by a
thread that :meth:`Stats.start` starts, so nothing that deletes needs to know
about counters.  Increments cost nanoseconds: none of this slows SMTP.

Nothing here imports prometheus-client: ``web/metrics.py`` reads a
:meth:`Stats.snapshot` at scrape time and turns it into the text format.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

from mailsink.events import Changed, EventBus, EventThread, Subscription, Truncated

log = logging.getLogger(__name__)

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
"""Upper bounds (seconds) of the ingest latency histogram's buckets."""

REJECT_REASONS = ("syntax", "auth", "recipients", "size", "fault", "storage")
"""Why a message or command is refused: a closed set, so metrics keep few series."""


@dataclass
class Snapshot:
    """The counters at one moment, copied out of the lock."""

    started: float
    accepted: int
    accepted_bytes: int
    rejected: dict[str, int]
    ignored: int
    deleted: int
    sessions_open: int
    sessions: int
    tls_sessions: int
    http_requests: dict[tuple[str, str, int], int]
    latency_buckets: list[int]
    """Cumulative counts per ``LATENCY_BUCKETS`` bound, then the +Inf count."""
    latency_sum: float
    latency_count: int

    @property
    def rejected_total(self) -> int:
        """Return how many were refused, whatever the reason."""
        return sum(self.rejected.values())


@dataclass
class Stats:
    """Count what a sink does; build freely, ``start()`` to count deletions too."""

    started: float = field(default_factory=time.time)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _accepted: int = 0
    _accepted_bytes: int = 0
    _rejected: Counter[str] = field(default_factory=Counter)
    _deleted: int = 0
    _sessions_open: int = 0
    _sessions: int = 0
    _tls_sessions: int = 0
    _http: Counter[tuple[str, str, int]] = field(default_factory=Counter)
    _latency: list[int] = field(default_factory=lambda: [0] * (len(LATENCY_BUCKETS) + 1))
    _latency_sum: float = 0.0
    _follower: EventThread = field(init=False, repr=False)

    def __post_init__(self) -> None:
        # Only deletions: a thread woken per received message would take the GIL
        # from the SMTP loop for nothing (issue 19).
        self._follower = EventThread(
            "mailsink-stats", self._count_deletions, kinds=("delete", "truncate")
        )

    def record_stored(self, count: int, size: int, seconds: float) -> None:
        """Count ``count`` messages of ``size`` bytes in all, stored in ``seconds`` each."""
        slot = next((i for i, bound in enumerate(LATENCY_BUCKETS) if seconds <= bound), -1)
        with self._lock:
            self._accepted += count
            self._accepted_bytes += size
            self._latency[slot] += count
            self._latency_sum += seconds * count

    def record_rejected(self, reason: str) -> None:
        """Count one refusal (``reason`` is one of ``REJECT_REASONS``)."""
        with self._lock:
            self._rejected[reason] += 1

    def record_deleted(self, count: int) -> None:
        """Count deleted messages."""
        with self._lock:
            self._deleted += count

    def session_opened(self) -> None:
        """Count an SMTP connection that opened."""
        with self._lock:
            self._sessions_open += 1
            self._sessions += 1

    def session_closed(self, tls: bool) -> None:
        """Count an SMTP connection that closed, and whether it was encrypted."""
        with self._lock:
            self._sessions_open -= 1
            self._tls_sessions += tls

    def record_http(self, route: str, method: str, status: int) -> None:
        """Count one HTTP request by its route template (not its path: few series)."""
        with self._lock:
            self._http[(route, method, status)] += 1

    def snapshot(self) -> Snapshot:
        """Return a copy of every counter."""
        with self._lock:
            cumulative, running = [], 0
            for count in self._latency:
                running += count
                cumulative.append(running)
            return Snapshot(
                started=self.started,
                accepted=self._accepted,
                accepted_bytes=self._accepted_bytes,
                rejected={reason: self._rejected[reason] for reason in REJECT_REASONS},
                ignored=0,  # Mailpit's duplicates-ignored; mailsink keeps every message
                deleted=self._deleted,
                sessions_open=self._sessions_open,
                sessions=self._sessions,
                tls_sessions=self._tls_sessions,
                http_requests=dict(self._http),
                latency_buckets=cumulative,
                latency_sum=self._latency_sum,
                latency_count=running,
            )

    def start(self, events: EventBus) -> Stats:
        """Count deletions announced on ``events`` from now on (a thread); return self."""
        self._follower.start(events)
        return self

    def stop(self) -> None:
        """Stop counting deletions."""
        self._follower.stop(timeout=2)

    def _count_deletions(self, sub: Subscription) -> None:
        """Add up ``delete`` and ``truncate`` events until the bus closes or stop() is called."""
        for event in sub.until_close():
            if event.kind == "delete" and isinstance(event.data, Changed):
                self.record_deleted(len(event.data.ids))
            elif event.kind == "truncate" and isinstance(event.data, Truncated):
                self.record_deleted(event.data.count)
            if sub.overflowed:
                sub.overflowed = False
                log.warning("stats fell behind the event stream; some deletions were not counted")
