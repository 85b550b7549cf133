"""Mailpit's webhook: ``--webhook-url URL`` gets a POST of each new message's summary.

The body is the message's summary JSON (Mailpit's ``MessageSummary``, as the
list API shows it), ``Content-Type: application/json``.  A thread reads the
mailbox's ``new`` events from its own bounded queue (the event bus's), so a
slow or dead receiver never slows SMTP: when the queue is full, the events
that do not fit are dropped and logged.  ``--webhook-limit N/s`` sends at most
N POSTs in any second (by the messages' arrival times); messages beyond it get
none, as in Mailpit.  A POST that fails for a network error or a 5xx is
retried twice (after 0.5 s, then 1 s) and then logged; 3xx redirects are not
followed (the URL is the user's own: no SSRF guard, but no wandering off).
"""

from __future__ import annotations

import collections
import json
import logging
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

from mailsink import __version__
from mailsink.config import check_webhook_url
from mailsink.events import EventBus, EventThread, Subscription
from mailsink.store.base import StoredMessage

log = logging.getLogger(__name__)

TIMEOUT = 5.0
RETRY_DELAYS = (0.5, 1.0)


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """Refuse every redirect: the 3xx is reported as the answer."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


class Webhook:
    """POST each new message's summary to one URL, at most ``limit`` a second."""

    def __init__(
        self,
        url: str,
        summary: Callable[[StoredMessage], dict[str, Any]],
        limit: float = 0.0,
    ) -> None:
        self.url = check_webhook_url(url)
        self.summary = summary
        self.limit = limit
        self.sent = 0
        self.failed = 0
        self.skipped = 0
        """Messages that got no POST: over the limit, or dropped from a full queue."""
        self._opener = urllib.request.build_opener(_NoRedirects)
        self._recent: collections.deque[float] = collections.deque()
        # remote_kinds=(): on a shared store the node that received a message POSTs it,
        # once; its peers would each POST it again.
        self._follower = EventThread("mailsink-webhook", self._run, kinds=("new",), remote_kinds=())

    def start(self, events: EventBus) -> Webhook:
        """Send a POST for every message announced on ``events`` from now on; return self."""
        self._follower.start(events)
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop after the POST under way (the ones still queued are not sent)."""
        self._follower.stop(timeout)

    def allowed(self, received: float) -> bool:
        """Tell whether a message received at this time is within the limit (and count it)."""
        if self.limit <= 0:
            return True
        recent = self._recent
        while recent and recent[0] <= received - 1.0:
            recent.popleft()
        if len(recent) >= self.limit:
            return False
        recent.append(received)
        return True

    def _run(self, sub: Subscription) -> None:
        for event in sub.until_close():
            if not self._follower.running:  # stopped: what is still queued gets no POST
                return
            if sub.overflowed:
                sub.overflowed = False
                self.skipped += 1
                log.warning("webhook: the receiver is too slow; some messages got no POST")
            if event.kind != "new":
                continue
            message = event.message
            if not self.allowed(message.received):
                self.skipped += 1
                log.info("webhook: over --webhook-limit; no POST for message %s", message.id)
                continue
            self.post(json.dumps(self.summary(message)).encode())

    def post(self, body: bytes) -> bool:
        """POST one body, retrying network errors and 5xx; tell whether it was taken."""
        for attempt in range(len(RETRY_DELAYS) + 1):
            request = urllib.request.Request(
                self.url,
                data=body,
                method="POST",
                headers={
                    "Content-Type": "application/json",
                    "User-Agent": f"mailsink/{__version__}",
                },
            )
            try:
                with self._opener.open(request, timeout=TIMEOUT) as response:
                    response.read(64 * 1024)
                self.sent += 1
                return True
            except urllib.error.HTTPError as error:
                error.close()
                if error.code < 500:  # a 3xx (not followed) or a 4xx: retrying will not help
                    log.warning("webhook: %s answered %s", self.url, error.code)
                    break
                reason = f"HTTP {error.code}"
            except (OSError, ValueError) as error:  # URLError, timeouts, refused connections
                reason = str(error)
            if attempt == len(RETRY_DELAYS) or not self._follower.running:
                log.warning("webhook: POST to %s failed: %s", self.url, reason)
                break
            time.sleep(RETRY_DELAYS[attempt])
        self.failed += 1
        return False
