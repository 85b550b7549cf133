"""What a running sink tells its operator: one log line per message, per refusal, and pruning.

:class:`MessageLog` follows the mailbox's events on a thread of its own (a
side effect after the 250, never in the SMTP path) and logs each new message
as ``ID from -> rcpts size subject`` on the ``mailsink.received`` logger,
whatever way it came in (SMTP, sendmail, ingest, the send API).
:class:`Retention` deletes messages older than ``--max-age`` through the
mailbox, so every view hears of it, with the store's own search
(``before:``), so no store needs a call of its own for it.
:func:`configure_logging` is the command line's logging set-up: ``-q``
silences the per-message lines, ``-v`` adds aiosmtpd's session traces at
INFO (aiosmtpd masks AUTH lines there; its DEBUG level would show AUTH LOGIN
secrets, so it is never switched on).
"""

from __future__ import annotations

import datetime
import logging
import sys
import threading
from contextlib import nullcontext

from mailsink.events import EventThread, Subscription
from mailsink.log_queue import QueuedStreamHandler
from mailsink.mailbox import Mailbox
from mailsink.search import parse_query
from mailsink.store.base import SharedStore

RECEIVED = logging.getLogger("mailsink.received")
log = logging.getLogger(__name__)


def describe(message_id: str, sender: str, rcpts: tuple[str, ...], size: int, subject: str) -> str:
    """Return the log line of one received message."""
    shown = ", ".join(rcpts[:5]) + (f" (+{len(rcpts) - 5})" if len(rcpts) > 5 else "")
    return f"{message_id} {sender or '<>'} -> {shown} {size} bytes {subject[:200]!r}"


class MessageLog:
    """Log every new message from the mailbox's events, on a thread."""

    def __init__(self, mailbox: Mailbox) -> None:
        self.mailbox = mailbox
        # remote_kinds=(): each node logs the mail it received, not its peers' (a
        # shared store's node would otherwise fetch every other node's message to log it).
        self._follower = EventThread(
            "mailsink-log", self._log_received, kinds=("new",), remote_kinds=()
        )

    def start(self) -> MessageLog:
        """Subscribe and start the thread, if its lines would be shown at all; return self.

        Without a handler for INFO (the pytest plugin, embedding code) no thread runs, so
        nothing is paid per message.
        """
        if RECEIVED.isEnabledFor(logging.INFO):
            self._follower.start(self.mailbox.events)
        return self

    def _log_received(self, sub: Subscription) -> None:
        for event in sub.until_close():
            if event.kind == "new":
                m = event.message
                RECEIVED.info(
                    describe(
                        m.id, m.envelope.mail_from, m.envelope.rcpt_tos, m.summary.size,
                        m.summary.subject,
                    )
                )  # fmt: skip

    def stop(self) -> None:
        """Log what is queued still, then stop."""
        self._follower.stop()


class Retention:
    """Delete the messages older than ``max_age`` seconds, now and every little while."""

    def __init__(self, mailbox: Mailbox, max_age: float) -> None:
        self.mailbox = mailbox
        self.max_age = max_age
        self.interval = min(60.0, max(0.5, max_age / 20))
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def prune(self, now: float | None = None) -> int:
        """Delete what is too old now; return how many messages went.

        A store shared by several nodes is swept by one node at a time
        (:meth:`~mailsink.store.base.SharedStore.lead`); the others skip.
        """
        store = self.mailbox.store
        with store.lead("prune") if isinstance(store, SharedStore) else nullcontext(True) as lead:
            return self._prune(now) if lead else 0

    def _prune(self, now: float | None) -> int:
        cutoff = (now if now is not None else _now()) - self.max_age
        stamp = datetime.datetime.fromtimestamp(cutoff, datetime.timezone.utc)
        query = parse_query("before:" + stamp.strftime("%Y-%m-%dT%H:%M:%S.%fZ"))
        ids = self.mailbox.store.ids(query)
        if ids:
            deleted = self.mailbox.delete(ids)
            log.info("pruned %d message(s) older than --max-age", len(deleted))
            return len(deleted)
        return 0

    def start(self) -> Retention:
        """Start pruning on a thread; return self."""

        def run() -> None:
            while not self._stop.wait(self.interval):
                try:
                    self.prune()
                except Exception:  # try again next time; the sink keeps running
                    log.warning("pruning by age failed", exc_info=True)

        self._thread = threading.Thread(target=run, name="mailsink-retention", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop the thread."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None


def _now() -> float:
    import time

    return time.time()


def configure_logging(quiet: bool, verbose: bool) -> None:
    """Log to stderr, through a queue: received messages, refusals, TLS failures; ``-q``, ``-v``."""
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "mailsink", False)]:
        root.removeHandler(old)  # main() run again in one process: one handler, not two
        old.close()
    # Queued: a stderr nobody reads must never block a thread that serves clients (log_queue.py).
    handler = QueuedStreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    handler.mailsink = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    RECEIVED.setLevel(logging.WARNING if quiet else logging.INFO)
    logging.getLogger("mail.log").setLevel(logging.INFO if verbose else logging.WARNING)
