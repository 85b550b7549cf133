"""One IMAP connection: the states of RFC 3501 and every command the sink offers.

The mailbox is one ``INBOX`` holding the mail of the login's view
(``readers.py``).  Mail cannot be added (no APPEND, COPY or MOVE: the sink's
mail comes by SMTP), only read, flagged and deleted.  Each command's
arguments are parsed in ``parser.py``; a malformed one is answered ``BAD``,
a failing one ``NO``; neither ends the session (after ``MAX_BAD_COMMANDS``
malformed ones in a row the server hangs up).
"""

from __future__ import annotations

import base64
import binascii
import logging
import re
from typing import TYPE_CHECKING

from mailsink.events import Event
from mailsink.imap.folders import PARENT, folder_names, folder_view, list_pattern
from mailsink.imap.mailbox_view import (
    PERMANENT_FLAGS,
    SYSTEM_FLAGS,
    SelectedMailbox,
)
from mailsink.imap.parser import (
    LITERAL_AT_END,
    MAX_COMMAND,
    MAX_LITERAL,
    Atom,
    Command,
    CommandError,
    RefusedError,
    Value,
    astring,
    parse_command,
    parse_sequence_set,
)
from mailsink.imap.search import CharsetError
from mailsink.imap.selected_commands import SelectedCommands
from mailsink.imap.wire import mailbox
from mailsink.lines import ClosedError, Connection, LineTooLongError
from mailsink.readers import ReaderContext, View, sasl_plain
from mailsink.search import Query, Term

if TYPE_CHECKING:
    from mailsink.retrieval import ReaderListener

log = logging.getLogger(__name__)

MAX_BAD_COMMANDS = 20

_TAG_PREFIX = re.compile(rb"[^\s(){%*\"\\]{1,64}")


class IMAPSession(SelectedCommands):
    """Serve one connection from greeting to LOGOUT."""

    def __init__(self, conn: Connection, context: ReaderContext, listener: ReaderListener):
        self.conn = conn
        self.context = context
        self.listener = listener
        self.view: View | None = None
        self.selected: SelectedMailbox | None = None
        self.bad = 0

    # -- reading commands --------------------------------------------------

    async def read_command(self) -> Command | None:
        """Read one command with its literals; None if it was refused (already answered)."""
        line = await self.conn.read_line()
        lines = [line]
        literals: list[bytes] = []
        total = len(line)
        while match := LITERAL_AT_END.search(line):
            size, non_sync = int(match.group(1)), bool(match.group(2))
            total += size
            if size > MAX_LITERAL or total > MAX_COMMAND:
                if non_sync:  # its bytes are on their way: the only way out is to hang up
                    self.conn.write(b"* BYE literal too large\r\n")
                    raise ClosedError("literal too large")
                self.tagged_bad(lines[0], "literal too large")
                return None
            if not non_sync:
                await self.conn.send(b"+ Ready for literal data\r\n")
            literals.append(await self.conn.read_exact(size))
            line = await self.conn.read_line()
            lines.append(line)
            total += len(line)
            if total > MAX_COMMAND:
                self.tagged_bad(lines[0], "command too long")
                return None
        try:
            return parse_command(b"".join(lines), literals)
        except CommandError as error:
            self.tagged_bad(lines[0], str(error))
            return None

    def tagged_bad(self, first_line: bytes, text: str) -> None:
        self.bad += 1
        match = _TAG_PREFIX.match(first_line)
        tag = match.group() if match and match.group() != b"+" else b"*"
        self.conn.write(tag + b" BAD " + text.encode("utf-8", "replace") + b"\r\n")

    # -- the session -------------------------------------------------------

    async def run(self) -> None:
        self.conn.write(
            b"* OK [CAPABILITY %s] %s mailsink IMAP4rev1 ready\r\n"
            % (self.capabilities(), self.context.hostname.encode("ascii", "replace"))
        )
        try:
            while self.bad < MAX_BAD_COMMANDS:
                await self.conn.drain()
                try:
                    command = await self.read_command()
                except LineTooLongError:
                    self.bad += 1
                    self.conn.write(b"* BAD line too long\r\n")
                    continue
                if command is None:
                    continue
                if await self.handle(command):
                    break
            else:
                self.conn.write(b"* BYE too many bad commands\r\n")
            await self.conn.drain()
        finally:
            self.unselect()

    async def handle(self, command: Command) -> bool:
        """Run one command and answer it; return True after LOGOUT."""
        tag = command.tag.encode()
        try:
            done, text = await self.dispatch(command)
        except CharsetError:
            self.bad = 0
            self.conn.write(tag + b" NO [BADCHARSET (UTF-8 US-ASCII)] unsupported charset\r\n")
            return False
        except CommandError as error:
            self.bad += 1
            self.conn.write(tag + b" BAD " + str(error).encode("utf-8", "replace") + b"\r\n")
            return False
        except _AnsweredError:
            return False
        except RefusedError as refusal:
            self.bad = 0
            self.send_updates(expunge=False)
            self.conn.write(tag + b" NO " + str(refusal).encode() + b"\r\n")
            return False
        except ClosedError:
            raise
        except Exception:  # a bug of ours: answer it, log it, keep the session
            log.exception("IMAP %s failed", command.name)
            self.conn.write(tag + b" NO [SERVERBUG] internal error, see the sink's log\r\n")
            return False
        self.bad = 0
        self.conn.write(tag + b" " + text.encode() + b"\r\n")
        return done

    async def dispatch(self, command: Command) -> tuple[bool, str]:  # noqa: C901, PLR0911
        name, args = command.name, command.args
        if name == "CAPABILITY":
            _arity(args, 0)
            self.conn.write(b"* CAPABILITY " + self.capabilities() + b"\r\n")
            return False, "OK CAPABILITY completed"
        if name == "NOOP" or (name == "CHECK" and self.selected is not None):
            _arity(args, 0)
            self.send_updates(expunge=True)
            return False, f"OK {name} completed"
        if name == "ID":  # RFC 2971: some clients (Apple Mail) send it unasked
            _arity(args, 1)
            self.conn.write(b'* ID ("name" "mailsink")\r\n')
            return False, "OK ID completed"
        if name == "LOGOUT":
            _arity(args, 0)
            self.conn.write(b"* BYE mailsink IMAP4rev1 server logging out\r\n")
            return True, "OK LOGOUT completed"
        if self.view is None:
            if name == "STARTTLS":
                _arity(args, 0)
                return False, await self.starttls(command.tag)
            if name == "LOGIN":
                _arity(args, 2)
                return False, self.login(astring(args[0]), astring(args[1]))
            if name == "AUTHENTICATE":
                return False, await self.authenticate(args)
            raise CommandError(f"{name[:30]} is not valid before login (or unknown)")
        if name in ("LOGIN", "AUTHENTICATE", "STARTTLS"):
            raise CommandError("already logged in")
        if name in ("SELECT", "EXAMINE"):
            _arity(args, 1)
            return False, self.select(astring(args[0]), readonly=name == "EXAMINE")
        if name in ("LIST", "LSUB"):
            _arity(args, 2)
            self.list_mailboxes(name, astring(args[0]), astring(args[1]))
            return False, f"OK {name} completed"
        if name == "STATUS":
            _arity(args, 2)
            self.status(astring(args[0]), args[1])
            return False, "OK STATUS completed"
        if name == "NAMESPACE":
            self.conn.write(b'* NAMESPACE (("" "/")) NIL NIL\r\n')
            return False, "OK NAMESPACE completed"
        if name in ("SUBSCRIBE", "UNSUBSCRIBE"):
            _arity(args, 1)
            return False, f"OK {name} completed"
        if name in ("CREATE", "DELETE", "RENAME", "APPEND"):
            raise RefusedError(
                f"[CANNOT] the sink's folders are INBOX and Tags/<tag>, filled by SMTP ({name})"
            )
        if self.selected is None:
            raise CommandError(f"{name[:30]} needs a selected mailbox (or is unknown)")
        return await self.selected_command(name, args)

    async def selected_command(  # noqa: C901 - one branch per command
        self, name: str, args: list[Value]
    ) -> tuple[bool, str]:
        selected = self.selected
        assert selected is not None
        if name in ("FETCH", "UID FETCH"):
            if len(args) < 2:
                raise CommandError(f"{name} needs a sequence set and attributes")
            await self.fetch(selected, args[0], args[1:], by_uid=name.startswith("UID"))
            self.send_updates(expunge=False)
            return False, f"OK {name} completed"
        if name in ("STORE", "UID STORE"):
            self.store(selected, args, by_uid=name.startswith("UID"))
            self.send_updates(expunge=False)
            return False, f"OK {name} completed"
        if name in ("SEARCH", "UID SEARCH"):
            self.search(selected, args, by_uid=name.startswith("UID"))
            self.send_updates(expunge=False)
            return False, f"OK {name} completed"
        if name in ("EXPUNGE", "UID EXPUNGE"):
            uids = None
            if name == "UID EXPUNGE":
                _arity(args, 1)
                uids = {
                    selected.uids[i] for i in selected.select(parse_sequence_set(args[0]), True)
                }
            else:
                _arity(args, 0)
            self.expunge(selected, uids, report=True)
            self.send_updates(expunge=True)
            return False, f"OK {name} completed"
        if name in ("CLOSE", "UNSELECT"):
            _arity(args, 0)
            if name == "CLOSE":
                self.expunge(selected, None, report=False)
            self.unselect()
            return False, f"OK {name} completed"
        if name == "IDLE":
            _arity(args, 0)
            await self.idle(selected)
            return False, "OK IDLE terminated"
        if name in ("COPY", "MOVE", "UID COPY", "UID MOVE"):
            raise RefusedError("[CANNOT] the sink has no other mailbox to copy or move to")
        raise CommandError(f"unknown command {name[:30]!r}")

    # -- not authenticated ------------------------------------------------

    def capabilities(self) -> bytes:
        caps = [
            "IMAP4rev1",
            "LITERAL+",
            "SASL-IR",
            "ID",
            "IDLE",
            "UIDPLUS",
            "UNSELECT",
            "NAMESPACE",
        ]
        if self.view is None:
            caps.append("AUTH=PLAIN")
            if self.context.tls_context is not None and not self.conn.tls:
                caps.append("STARTTLS")
        return " ".join(caps).encode()

    async def starttls(self, tag: str) -> str:
        if self.context.tls_context is None or self.conn.tls:
            raise CommandError("STARTTLS is not available")
        if self.conn.buffered:
            # Plain text pipelined after STARTTLS would be read as if it came
            # over TLS (the STARTTLS command injection of CVE-2011-0411).
            raise CommandError("nothing may follow STARTTLS before the TLS handshake")
        await self.conn.drain()
        await self.conn.start_tls(
            self.context.tls_context, tag.encode() + b" OK Begin TLS negotiation now\r\n"
        )
        # The tagged reply is already sent; the caller must not send another.
        raise _AnsweredError

    def login(self, user: str, password: str) -> str:
        view = self.context.credentials.check(user, password)
        if view is None:
            raise RefusedError("[AUTHENTICATIONFAILED] invalid user name or password")
        self.view = view
        return "OK [CAPABILITY " + self.capabilities().decode() + "] logged in"

    async def authenticate(self, args: list[Value]) -> str:
        if not args or not isinstance(args[0], Atom) or len(args) > 2:
            raise CommandError("AUTHENTICATE needs a mechanism")
        if args[0].upper() != "PLAIN":
            raise RefusedError("only AUTHENTICATE PLAIN is offered")
        if len(args) == 2:
            response = astring(args[1])
        else:
            await self.conn.send(b"+ \r\n")
            try:
                response = (await self.conn.read_line()).decode("ascii", "replace").strip()
            except LineTooLongError:
                raise CommandError("response too long") from None
        if response == "*":
            raise CommandError("authentication cancelled")
        try:
            decoded = base64.b64decode(response.encode("ascii", "replace"), validate=True)
        except (binascii.Error, ValueError):
            raise CommandError("bad base64") from None
        pair = sasl_plain(decoded)
        if pair is None:
            raise CommandError("bad PLAIN response")
        return self.login(*pair)

    # -- authenticated -----------------------------------------------------

    def folder(self, name: str) -> View:
        """Return the view a mailbox name selects, or refuse it (NO [NONEXISTENT])."""
        assert self.view is not None
        view = folder_view(self.view, name, self.context.mailbox.store.tags())
        if view is None:
            raise RefusedError("[NONEXISTENT] no such mailbox (there are INBOX and Tags/<tag>)")
        return view

    def select(self, name: str, readonly: bool) -> str:
        self.unselect()
        selected = SelectedMailbox(self.context.mailbox, self.folder(name), readonly)
        self.selected = selected
        self.listener.listeners.add(self.note)
        flags = " ".join(SYSTEM_FLAGS).encode()
        permanent = b"" if readonly else " ".join(PERMANENT_FLAGS).encode()
        self.conn.write(
            b"* FLAGS (%s)\r\n* OK [PERMANENTFLAGS (%s)] flags kept\r\n"
            b"* %d EXISTS\r\n* 0 RECENT\r\n* OK [UIDVALIDITY %d] UIDs valid\r\n"
            b"* OK [UIDNEXT %d] predicted next UID\r\n"
            % (flags, permanent, selected.count, selected.validity, selected.uid_next)
        )
        mode = "READ-ONLY" if readonly else "READ-WRITE"
        return f"OK [{mode}] {'EXAMINE' if readonly else 'SELECT'} completed"

    def note(self, event: Event | None) -> None:
        """Called on the loop for every mailbox event while a mailbox is selected."""
        if self.selected is not None:
            self.selected.note(event)

    def unselect(self) -> None:
        self.listener.listeners.discard(self.note)
        self.selected = None

    def list_mailboxes(self, kind: str, reference: str, pattern: str) -> None:
        if pattern == "" and kind == "LIST":
            self.conn.write(b'* LIST (\\Noselect) "/" ""\r\n')
            return
        matches = list_pattern(reference, pattern).fullmatch
        names = folder_names(self.context.mailbox.store.tags())
        entries = [(name, "\\HasNoChildren") for name in names]
        if len(names) > 1:
            entries.insert(1, (PARENT, "\\Noselect \\HasChildren"))
        for name, attributes in entries:
            if matches(name):
                shown = attributes if kind == "LIST" else ""
                self.conn.write(
                    b'* %s (%s) "/" %s\r\n' % (kind.encode(), shown.encode(), mailbox(name))
                )

    def status(self, name: str, items: Value) -> None:
        view = self.folder(name)
        if not isinstance(items, list) or not items:
            raise CommandError("STATUS needs a list of items")
        store = self.context.mailbox.store
        pairs = store.uids(view.query)
        out = []
        for item in items:
            key = astring(item).upper()
            if key == "MESSAGES":
                value = len(pairs)
            elif key == "RECENT":
                value = 0
            elif key == "UIDNEXT":
                value = (pairs[-1][0] if pairs else 0) + 1
            elif key == "UIDVALIDITY":
                value = store.uid_validity()
            elif key == "UNSEEN":
                unread = Term("is", "unread")
                value = len(store.ids(Query((*(view.query.terms if view.query else ()), unread))))
            else:
                raise CommandError(f"unknown STATUS item {key[:30]!r}")
            out.append(f"{key} {value}")
        self.conn.write(b"* STATUS " + mailbox(name) + b" (" + " ".join(out).encode() + b")\r\n")

    # -- selected ----------------------------------------------------------


class _AnsweredError(Exception):
    """The command sent its own tagged reply (STARTTLS)."""


def _arity(args: list[Value], count: int) -> None:
    if len(args) != count:
        raise CommandError(f"expected {count} argument(s), got {len(args)}")


async def run_imap(conn: Connection, context: ReaderContext, listener: ReaderListener) -> None:
    """Serve one IMAP connection until LOGOUT, a timeout or the client leaving."""
    session = IMAPSession(conn, context, listener)
    try:
        await session.run()
    except ClosedError:
        return
