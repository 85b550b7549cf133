"""The commands of the selected state: FETCH, STORE, SEARCH, EXPUNGE and IDLE.

A mixin of :class:`~mailsink.imap.session.IMAPSession`, kept apart so each
module stays one size: these are the commands that read and change messages.
Reads go through the store contract; every change goes through the mailbox,
so the UI's live stream sees it.
"""

from __future__ import annotations

import asyncio
import contextlib

from mailsink.imap.fetch import Item, Rendering, flag_list, parse_items
from mailsink.imap.mailbox_view import (
    FLAGGED_TAG,
    SYSTEM_FLAGS,
    Facts,
    SelectedMailbox,
    is_flagged,
)
from mailsink.imap.parser import Atom, CommandError, RefusedError, Value, parse_sequence_set
from mailsink.imap.search import Candidate, compile_search
from mailsink.lines import ClosedError, Connection, LineTooLongError
from mailsink.readers import ReaderContext

_WRITE_BATCH = 64 * 1024
_SLICE = 1024 * 1024
_SYSTEM = {flag.lower(): flag for flag in SYSTEM_FLAGS}


class SelectedCommands:
    """FETCH, STORE, SEARCH, EXPUNGE and IDLE for a session with a mailbox selected."""

    conn: Connection
    context: ReaderContext
    selected: SelectedMailbox | None

    def send_updates(self, expunge: bool) -> None:
        if self.selected is not None:
            for line in self.selected.updates(expunge):
                self.conn.write(line)

    async def fetch(
        self, selected: SelectedMailbox, sequence: Value, rest: list[Value], by_uid: bool
    ) -> None:
        ranges = parse_sequence_set(sequence)
        items = parse_items(rest)
        if by_uid and not any(i.name == "UID" for i in items):
            items.insert(0, Item("UID", label="UID"))
        indexes = selected.select(ranges, by_uid)
        store = self.context.mailbox.store
        needs_raw = any(i.needs_raw for i in items)
        if any(i.sets_seen for i in items) and not selected.readonly:
            seen = [selected.ids[i] for i in indexes]
            self.context.mailbox.set_read(seen, True)
            selected.forget(seen)
            if not any(i.name == "FLAGS" for i in items):
                items.append(Item("FLAGS", label="FLAGS"))
        needs_record = any(i.name in ("FLAGS", "INTERNALDATE", "RFC822.SIZE") for i in items)
        out = _BatchedWriter(self.conn)
        for index in indexes:
            facts = selected.facts(index) if needs_record else None
            if needs_record and facts is None:
                continue  # deleted elsewhere; its EXPUNGE comes at the next NOOP
            raw = store.raw(selected.ids[index]) if needs_raw else None
            if needs_raw and raw is None:
                continue
            flags = flag_list(selected.flags(index, facts)) if facts is not None else b"()"
            rendering = Rendering(facts, raw, selected.uids[index], flags)
            await out.write(rendering.render(items, index + 1))
        out.flush()

    def store(self, selected: SelectedMailbox, args: list[Value], by_uid: bool) -> None:  # noqa: C901
        if len(args) < 3 or not isinstance(args[1], Atom):
            raise CommandError("STORE needs a sequence set, an item and flags")
        ranges = parse_sequence_set(args[0])
        item = args[1].upper()
        silent = item.endswith(".SILENT")
        mode = item.removesuffix(".SILENT")
        if mode not in ("FLAGS", "+FLAGS", "-FLAGS"):
            raise CommandError(f"unknown STORE item {item[:30]!r}")
        values = args[2] if len(args) == 3 and isinstance(args[2], list) else args[2:]
        flags = set()
        for value in values:
            if not isinstance(value, Atom):
                raise CommandError("flags are atoms")
            flags.add(_SYSTEM.get(value.lower(), str(value)))
        if selected.readonly:
            raise RefusedError("the mailbox is read-only (EXAMINE)")
        indexes = selected.select(ranges, by_uid)
        mailbox = self.context.mailbox
        store = mailbox.store
        to_read: list[str] = []
        to_unread: list[str] = []
        for index in indexes:
            message_id, uid = selected.ids[index], selected.uids[index]
            message = store.get(message_id)
            if message is None:
                continue
            current = set(selected.flags(index, Facts.of(message)))
            if mode == "FLAGS":
                wanted = flags
            elif mode == "+FLAGS":
                wanted = current | flags
            else:
                wanted = current - flags
            seen = "\\Seen" in wanted
            if seen != message.read:
                (to_read if seen else to_unread).append(message_id)
            flagged = "\\Flagged" in wanted
            if flagged != is_flagged(message):
                kept = [t for t in message.tags if t.lower() != FLAGGED_TAG]
                mailbox.set_tags([message_id], [*kept, FLAGGED_TAG] if flagged else kept)
            if "\\Deleted" in wanted:
                selected.deleted.add(uid)
            else:
                selected.deleted.discard(uid)
        if to_read:
            mailbox.set_read(to_read, True)
        if to_unread:
            mailbox.set_read(to_unread, False)
        selected.forget(selected.ids[i] for i in indexes)
        if silent:
            return
        for index in indexes:
            facts = selected.facts(index)
            if facts is not None:
                self.conn.write(
                    b"* %d FETCH (FLAGS %s UID %d)\r\n"
                    % (index + 1, flag_list(selected.flags(index, facts)), selected.uids[index])
                )

    def search(self, selected: SelectedMailbox, args: list[Value], by_uid: bool) -> None:
        largest_uid = selected.uids[-1] if selected.uids else 0
        predicate = compile_search(args, selected.count, largest_uid)
        store = self.context.mailbox.store
        found = []
        for index, message_id in enumerate(selected.ids):
            message = store.get(message_id)
            if message is None:
                continue
            candidate = Candidate(
                index + 1,
                selected.uids[index],
                message,
                set(selected.flags(index, Facts.of(message))),
                lambda message_id=message_id: store.raw(message_id),  # type: ignore[misc]
            )
            if predicate(candidate):
                found.append(candidate.uid if by_uid else candidate.sequence)
        self.conn.write(b"* SEARCH" + b"".join(b" %d" % n for n in found) + b"\r\n")

    def expunge(self, selected: SelectedMailbox, uids: set[int] | None, report: bool) -> None:
        if selected.readonly:
            if report:
                raise RefusedError("the mailbox is read-only (EXAMINE)")
            return
        doomed = selected.deleted if uids is None else selected.deleted & uids
        indexes = [i for i, uid in enumerate(selected.uids) if uid in doomed]
        if not indexes:
            return
        self.context.mailbox.delete([selected.ids[i] for i in indexes])
        lines = selected.remove(indexes)
        if report:
            for line in lines:
                self.conn.write(line)

    async def idle(self, selected: SelectedMailbox) -> None:
        await self.conn.send(b"+ idling\r\n")
        # The idle timeout bounds an IDLE too (its default, 30 minutes, is what
        # RFC 2177 expects: clients re-issue IDLE every 29 minutes).
        reading = asyncio.ensure_future(self.conn.read_line(self.context.idle_timeout))
        try:
            while True:
                self.send_updates(expunge=True)
                await self.conn.drain()
                changed = asyncio.ensure_future(selected.changed.wait())
                await asyncio.wait({reading, changed}, return_when=asyncio.FIRST_COMPLETED)
                if reading.done():
                    changed.cancel()
                    break
        finally:
            if not reading.done():
                reading.cancel()
                with contextlib.suppress(asyncio.CancelledError, ClosedError, LineTooLongError):
                    await reading
        try:
            line = reading.result()
        except LineTooLongError:
            raise CommandError("expected DONE") from None
        if line.strip().upper() != b"DONE":
            raise CommandError("expected DONE")
        self.send_updates(expunge=True)


class _BatchedWriter:
    """Join small pieces into one socket write: a send per piece was most of a big FETCH."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.batch: list[bytes] = []
        self.size = 0

    async def write(self, chunks: list[bytes]) -> None:
        for chunk in chunks:
            if len(chunk) >= _WRITE_BATCH:
                # A large body goes in slices, each sent before the next is
                # queued: a slow client then holds at most one slice in the
                # transport's buffer, not a second copy of the whole message.
                self.flush()
                view = memoryview(chunk)
                for start in range(0, len(view), _SLICE):
                    self.conn.write(view[start : start + _SLICE])
                    await self.conn.drain()
            else:
                self.batch.append(chunk)
                self.size += len(chunk)
        if self.size >= _WRITE_BATCH:
            self.flush()
            await self.conn.drain()

    def flush(self) -> None:
        if self.batch:
            self.conn.write(b"".join(self.batch))
            self.batch, self.size = [], 0
