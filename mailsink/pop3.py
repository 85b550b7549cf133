"""The POP3 server: RFC 1939, with CAPA (RFC 2449), STLS (RFC 2595) and AUTH PLAIN (RFC 5034).

A session sees the mail of its login's view (``readers.py``) as it was at
login, oldest first.  RETR marks a message read (the UI shows it at once);
DELE marks it for deletion, which happens at QUIT, through the mailbox, so
the UI's live stream sees it; RSET and a dropped connection undo DELE.
Messages are sent as stored: only dot-stuffed, as the protocol requires,
and given a final line break if they lack one.  UIDL is the message's ID.
"""

from __future__ import annotations

import base64
import binascii
import logging
from typing import TYPE_CHECKING

from mailsink.lines import ClosedError, Connection, LineTooLongError
from mailsink.readers import ReaderContext, View, sasl_plain

if TYPE_CHECKING:
    from mailsink.retrieval import ReaderListener

log = logging.getLogger(__name__)

MAX_BAD_COMMANDS = 20
"""Unknown or malformed commands in a row before the server hangs up."""

MAX_MESSAGES = 100_000
"""Most messages one POP3 session lists (the newest are kept)."""


def stuff(raw: bytes) -> bytes:
    """Return a message as a multi-line response body: dot-stuffed and terminated."""
    data = raw.replace(b"\n.", b"\n..")
    if data.startswith(b"."):
        data = b"." + data
    if data and not data.endswith(b"\n"):
        data += b"\r\n"
    return data + b".\r\n"


def top(raw: bytes, lines: int) -> bytes:
    """Return the header, the blank line and the first ``lines`` lines of the body."""
    from mailsink.imap.parts import head_end

    body = head_end(raw)
    head, rest = raw[:body], raw[body:]
    if lines <= 0:
        return head
    taken = rest.split(b"\n", lines)
    if len(taken) <= lines:
        return raw
    return head + b"\n".join(taken[:lines]) + b"\n"


class POP3Session:
    """One POP3 connection: AUTHORIZATION, then TRANSACTION, then UPDATE at QUIT."""

    def __init__(self, conn: Connection, context: ReaderContext) -> None:
        self.conn = conn
        self.context = context
        self.user: str | None = None
        self.view: View | None = None
        self.ids: list[str] = []
        self.sizes: list[int] = []
        self.deleted: set[int] = set()
        self.bad = 0

    async def run(self) -> None:
        name = self.context.hostname.encode("ascii", "replace")
        await self.conn.send(b"+OK " + name + b" mailsink POP3 server ready\r\n")
        while True:
            try:
                line = await self.conn.read_line()
            except LineTooLongError:
                await self.conn.send(b"-ERR line too long\r\n")
                continue
            except ClosedError:
                return
            try:
                text = line.decode("utf-8")
            except UnicodeDecodeError:
                text = "\ufffd"
            verb, _, arg = text.strip().partition(" ")
            try:
                done = await self.dispatch(verb.upper(), arg.strip())
            except ClosedError:
                raise
            except Exception:  # a bug of ours: answer it, log it, keep the session
                log.exception("POP3 %s failed", verb.upper()[:10])
                self.err("[SYS/TEMP] internal error, see the sink's log")
                done = False
            await self.conn.drain()
            if done:
                return

    async def dispatch(self, verb: str, arg: str) -> bool:
        """Answer one command; return True when the session is over."""
        if verb == "QUIT":
            await self.quit()
            return True
        if verb == "CAPA":
            self.ok("Capability list follows", self.capabilities())
        elif verb == "NOOP" and self.view is not None:
            self.ok()
        elif self.view is None:
            return await self.authorization(verb, arg)
        else:
            self.transaction(verb, arg)
        return self.bad >= MAX_BAD_COMMANDS

    def capabilities(self) -> list[bytes]:
        caps = [b"TOP", b"UIDL", b"USER", b"RESP-CODES", b"PIPELINING", b"AUTH-RESP-CODE"]
        if self.view is None:
            caps.append(b"SASL PLAIN")
            if self.context.tls_context is not None and not self.conn.tls:
                caps.append(b"STLS")
        caps.append(b"IMPLEMENTATION mailsink")
        return caps

    def ok(self, text: str = "", lines: list[bytes] | None = None) -> None:
        self.bad = 0
        self.conn.write(b"+OK " + text.encode() + b"\r\n" if text else b"+OK\r\n")
        if lines is not None:
            self.conn.write(b"".join(line + b"\r\n" for line in lines) + b".\r\n")

    def err(self, text: str) -> None:
        self.conn.write(b"-ERR " + text.encode() + b"\r\n")

    def malformed(self, text: str) -> None:
        self.bad += 1
        self.err(text)

    async def authorization(self, verb: str, arg: str) -> bool:
        if verb == "USER":
            if not arg:
                self.malformed("USER needs a name")
            else:
                self.user = arg
                self.ok("send PASS")
        elif verb == "PASS":
            if self.user is None:
                self.malformed("USER first")
            else:
                user, self.user = self.user, None
                self.login(user, arg)
        elif verb == "AUTH":
            await self.auth(arg)
        elif verb == "STLS":
            await self.stls()
        else:
            self.malformed("unknown command, or not before login")
        return self.bad >= MAX_BAD_COMMANDS

    async def auth(self, arg: str) -> None:
        mechanism, _, initial = arg.partition(" ")
        if not mechanism:
            self.ok("SASL mechanisms follow", [b"PLAIN"])
            return
        if mechanism.upper() != "PLAIN":
            self.malformed("only AUTH PLAIN is offered")
            return
        response = initial.strip()
        if not response:
            await self.conn.send(b"+ \r\n")
            try:
                response = (await self.conn.read_line()).decode("ascii", "replace").strip()
            except LineTooLongError:
                self.malformed("response too long")
                return
        if response == "*":
            self.err("authentication cancelled")
            return
        try:
            decoded = base64.b64decode(response.encode("ascii", "replace"), validate=True)
        except (binascii.Error, ValueError):
            self.malformed("bad base64")
            return
        pair = sasl_plain(decoded)
        if pair is None:
            self.malformed("bad PLAIN response")
            return
        self.login(*pair)

    def login(self, user: str, password: str) -> None:
        view = self.context.credentials.check(user, password)
        if view is None:
            self.bad += 1
            self.err("[AUTH] invalid user name or password")
            return
        self.view = view
        store = self.context.mailbox.store
        pairs = store.uids(view.query)[-MAX_MESSAGES:]
        for _uid, message_id in pairs:
            message = store.get(message_id)
            if message is not None:
                self.ids.append(message_id)
                self.sizes.append(message.summary.size)
        self.ok(f"{view.label}: {len(self.ids)} messages")

    async def stls(self) -> None:
        if self.context.tls_context is None or self.conn.tls:
            self.malformed("STLS is not available")
            return
        if self.conn.buffered:
            # Plain text sent after STLS before the handshake would be taken as
            # if it came over TLS (the STARTTLS injection of CVE-2011-0411).
            self.malformed("nothing may follow STLS before the TLS handshake")
            return
        await self.conn.start_tls(self.context.tls_context, b"+OK begin TLS negotiation\r\n")

    def message(self, arg: str) -> int | None:
        """Return the index a message-number argument names, or None (after -ERR)."""
        if not arg.isdigit() or len(arg) > 9:
            self.malformed("expected a message number")
            return None
        index = int(arg) - 1
        if not 0 <= index < len(self.ids):
            self.err("no such message")
            return None
        if index in self.deleted:
            self.err("message is deleted")
            return None
        return index

    def transaction(self, verb: str, arg: str) -> None:  # noqa: C901 - one branch per verb
        store = self.context.mailbox.store
        live = [i for i in range(len(self.ids)) if i not in self.deleted]
        if verb == "STAT":
            self.ok(f"{len(live)} {sum(self.sizes[i] for i in live)}")
        elif verb in ("LIST", "UIDL"):

            def line(i: int) -> bytes:
                value = str(self.sizes[i]) if verb == "LIST" else self.ids[i]
                return f"{i + 1} {value}".encode()

            if arg:
                index = self.message(arg)
                if index is not None:
                    self.ok(line(index).decode())
            else:
                self.ok(f"{len(live)} messages", [line(i) for i in live])
        elif verb in ("RETR", "TOP"):
            number, _, count = arg.partition(" ")
            if verb == "TOP" and (not count.strip().isdigit() or len(count.strip()) > 9):
                self.malformed("TOP needs a message number and a line count")
                return
            index = self.message(number)
            if index is None:
                return
            raw = store.raw(self.ids[index])
            if raw is None:
                self.err("message was deleted meanwhile")
                return
            if verb == "TOP":
                raw = top(raw, int(count))
            else:
                self.context.mailbox.set_read([self.ids[index]], True)
            self.ok(f"{len(raw)} octets")
            self.conn.write(stuff(raw))
        elif verb == "DELE":
            index = self.message(arg)
            if index is not None:
                self.deleted.add(index)
                self.ok(f"message {index + 1} deleted")
        elif verb == "RSET":
            self.deleted.clear()
            self.ok(f"{len(self.ids)} messages")
        elif verb in ("USER", "PASS", "AUTH", "STLS", "APOP"):
            self.malformed("already logged in")
        else:
            self.malformed("unknown command")

    async def quit(self) -> None:
        if self.view is not None and self.deleted:
            gone = [self.ids[i] for i in sorted(self.deleted)]
            self.context.mailbox.delete(gone)
        self.conn.write(b"+OK mailsink POP3 server signing off\r\n")
        await self.conn.drain()


async def run_pop3(conn: Connection, context: ReaderContext, listener: ReaderListener) -> None:
    """Serve one POP3 connection until QUIT, a timeout or the client leaving."""
    try:
        await POP3Session(conn, context).run()
    except ClosedError:
        return
