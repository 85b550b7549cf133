"""The selected mailbox of one IMAP session: numbers, flags, and changes to report.

A session sees a snapshot of (UID, message ID) pairs, oldest first; the
sequence number of a message is its place in that list.  The snapshot only
changes when the session reports the change (``* n EXISTS`` for new mail,
``* n EXPUNGE`` for mail gone), as RFC 3501 requires: changes from
elsewhere (SMTP, the web UI, other sessions) are noted from the mailbox's
events and reported at the next chance (NOOP, IDLE, or after a command).

Flags map onto the store: ``\\Seen`` is the read flag; ``\\Flagged`` is the
tag ``flagged`` (visible, searchable and editable in the UI and API, which
have no other place for it); ``\\Deleted`` is this session's own state until
EXPUNGE or CLOSE deletes the message from the store.
"""

from __future__ import annotations

import asyncio
import bisect
from dataclasses import dataclass
from typing import TYPE_CHECKING

from mailsink.events import Event
from mailsink.imap.parser import SequenceSet
from mailsink.readers import View
from mailsink.store.base import StoredMessage

if TYPE_CHECKING:
    from collections.abc import Iterable

    from mailsink.mailbox import Mailbox

FLAGGED_TAG = "flagged"
SYSTEM_FLAGS = ("\\Answered", "\\Flagged", "\\Deleted", "\\Seen", "\\Draft")
PERMANENT_FLAGS = ("\\Seen", "\\Flagged", "\\Deleted")


def is_flagged(message: StoredMessage) -> bool:
    """Tell whether a message carries the ``flagged`` tag (IMAP's ``\\Flagged``)."""
    return any(t.lower() == FLAGGED_TAG for t in message.tags)


@dataclass(frozen=True, slots=True)
class Facts:
    """What FETCH needs of a message besides its bytes: INTERNALDATE, size and flags."""

    received: float
    size: int
    read: bool
    flagged: bool

    @classmethod
    def of(cls, message: StoredMessage) -> Facts:
        """Return the facts of a stored message."""
        return cls(message.received, message.summary.size, message.read, is_flagged(message))


class SelectedMailbox:
    """The messages a session has selected, by sequence number and UID."""

    def __init__(self, mailbox: Mailbox, view: View, readonly: bool) -> None:
        self.mailbox = mailbox
        self.store = mailbox.store
        self.query = view.query
        self.readonly = readonly
        self.validity = self.store.uid_validity()
        pairs = self.store.uids(self.query)
        self.uids = [uid for uid, _ in pairs]
        self.ids = [message_id for _, message_id in pairs]
        self.high = self.uids[-1] if self.uids else 0
        self.deleted: set[int] = set()
        """UIDs this session has flagged ``\\Deleted``."""
        self.changed = asyncio.Event()
        self._facts: dict[str, Facts] = {}
        """Facts read from the store, until an event says they changed: a client
        polling ``FETCH 1:* (FLAGS)`` (Thunderbird does, often) costs no store reads."""
        self._gone: set[str] = set()
        self._flag_changes: set[str] = set()
        self._maybe_new = False
        self._resync = False

    @property
    def count(self) -> int:
        """Return how many messages the session sees (its EXISTS)."""
        return len(self.uids)

    @property
    def uid_next(self) -> int:
        """Return the UID the next message will have at least."""
        return self.high + 1

    def note(self, event: Event | None) -> None:
        """Take note of a mailbox event (None: events were lost, resynchronise)."""
        if event is None or event.kind == "truncate":
            self._resync = True
            self._facts.clear()
        elif event.kind == "new":
            self._maybe_new = True
        elif event.kind == "delete":
            self._gone.update(event.changed.ids)
            self.forget(event.changed.ids)
        elif event.kind == "update":
            self._flag_changes.update(event.changed.ids)
            self.forget(event.changed.ids)
        else:
            return
        self.changed.set()

    def updates(self, expunge: bool) -> list[bytes]:
        """Return the untagged responses for the changes noted (EXPUNGE only if allowed)."""
        self.changed.clear()
        out: list[bytes] = []
        if self._resync:
            self._resync = False
            current = {message_id for _, message_id in self.store.uids(self.query)}
            self._gone.update(i for i in self.ids if i not in current)
            self._maybe_new = True
        if expunge and self._gone:
            gone = self._gone
            self._gone = set()
            out += self.remove([i for i, m in enumerate(self.ids) if m in gone])
        if self._maybe_new:
            self._maybe_new = False
            fresh = self.store.uids(self.query, after=self.high)
            if fresh:
                self.uids += [uid for uid, _ in fresh]
                self.ids += [message_id for _, message_id in fresh]
                self.high = self.uids[-1]
                out.append(b"* %d EXISTS\r\n" % self.count)
        if self._flag_changes:
            changed = self._flag_changes
            self._flag_changes = set()
            for index, message_id in enumerate(self.ids):
                if message_id in changed and message_id not in self._gone:
                    facts = self.facts(index)
                    if facts is not None:
                        flags = " ".join(self.flags(index, facts))
                        out.append(
                            b"* %d FETCH (UID %d FLAGS (%s))\r\n"
                            % (index + 1, self.uids[index], flags.encode())
                        )
        return out

    def remove(self, indexes: list[int]) -> list[bytes]:
        """Drop these messages from the snapshot; return their EXPUNGE responses."""
        out = []
        for index in sorted(set(indexes), reverse=True):
            out.append(b"* %d EXPUNGE\r\n" % (index + 1))
            self.deleted.discard(self.uids[index])
            self._facts.pop(self.ids[index], None)
            del self.uids[index]
            del self.ids[index]
        return out

    def select(self, ranges: SequenceSet, by_uid: bool) -> list[int]:
        """Return the indexes (ascending) a sequence set names, by sequence number or UID."""
        chosen: set[int] = set()
        if not self.uids:
            return []
        if by_uid:
            largest = self.uids[-1]
            for low, high in ranges:
                lo, hi = sorted((largest if low == 0 else low, largest if high is None else high))
                start = bisect.bisect_left(self.uids, lo)
                stop = bisect.bisect_right(self.uids, hi)
                chosen.update(range(start, stop))
        else:
            largest = self.count
            for low, high in ranges:
                lo, hi = sorted((largest if low == 0 else low, largest if high is None else high))
                chosen.update(range(max(lo, 1) - 1, min(hi, largest)))
        return sorted(chosen)

    def facts(self, index: int) -> Facts | None:
        """Return the facts of the message at an index (None if it is gone from the store)."""
        message_id = self.ids[index]
        facts = self._facts.get(message_id)
        if facts is None:
            message = self.store.get(message_id)
            if message is None:
                return None
            facts = self._facts[message_id] = Facts.of(message)
        return facts

    def forget(self, ids: Iterable[str]) -> None:
        """Drop what is known of these messages: they changed."""
        for message_id in ids:
            self._facts.pop(message_id, None)

    def flags(self, index: int, facts: Facts) -> list[str]:
        """Return the flags of the message at an index."""
        flags = []
        if facts.read:
            flags.append("\\Seen")
        if facts.flagged:
            flags.append("\\Flagged")
        if self.uids[index] in self.deleted:
            flags.append("\\Deleted")
        return flags
