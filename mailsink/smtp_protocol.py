"""aiosmtpd's SMTP protocol, made cheaper where a sink can afford it.

Three costs of aiosmtpd 1.4.6 are paid per message and are removed here,
each without changing what goes over the wire (the per-connection ones are
``smtp_setup.py``'s):

* DATA is read in bulk (below).
* A multiline reply (EHLO's six or seven lines) went out as one ``send()``
  per line, each ~0.1 ms of the loop under load - 13 sends per message for
  an smtplib client, the largest single cost of a 1 KB message (issue 19).
  Continuation lines (``250-...``) are held and go out with the reply's
  last line in one write: the same bytes, in fewer segments.
* MAIL and RCPT addresses are parsed with a regular expression when they
  are plain ``<dot-atom@dot-atom>`` addresses; anything else goes through
  aiosmtpd's own parser.

Reading DATA: aiosmtpd reads DATA one line at a time (``readuntil(b"\\r\\n")``, a Python
loop iteration per line), which costs ~4 ms of CPU per 100 KB message.  A
sink keeps the bytes as they are, so it can look for the end-of-data marker
in whole buffers: ``readuntil(b"\\r\\n.\\r\\n")`` scans in C.

The end-of-data rule stays exactly aiosmtpd's (RFC 5321 4.1.1.4, and the
fix for SMTP smuggling): only ``CRLF . CRLF`` ends the message; a bare LF
or CR followed by a dot does not.  Because the CRLF that precedes the
marker may already have been consumed (the one ending the DATA command, for
an empty message), reading starts from a virtual CRLF and any partial marker
at the end of what was read is completed byte-exactly before searching on.
Dot-unstuffing removes the first dot of every line that starts with one,
where lines are delimited by CRLF only, as in aiosmtpd.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from email._header_value_parser import get_addr_spec, get_angle_addr
from email.errors import HeaderParseError

from aiosmtpd.smtp import MISSING, SMTP, syntax

END = b"\r\n.\r\n"


@dataclass(frozen=True, slots=True)
class DataBlock:
    """The message read after 354: its unstuffed bytes, or that it was too big."""

    content: bytes
    too_big: bool


def _partial_end(buf: bytearray) -> int:
    """Return the length of the longest end of ``buf`` that starts the end marker."""
    for k in (4, 3, 2, 1):
        if buf.endswith(END[:k]):
            return k
    return 0


DATA_READ_LIMIT = 1 << 20
"""The reader's buffer limit while DATA is read (aiosmtpd's is its command line's 1,001 bytes).

``StreamReader`` pauses the socket once it holds twice its limit and makes
``readuntil`` give up past it: with aiosmtpd's limit, every chunk of a
message that arrived (up to 256 KB) paused and resumed the transport (two
``epoll_ctl`` calls) and raised and handled a ``LimitOverrunError``, once
per chunk.  At 1 MB a 232 KB newsletter is one ``readuntil``, and a client
still cannot make a session hold more than 2 MB beyond the message.  The
command limit is put back when DATA ends, so long command lines are refused
as before.
"""


async def read_data(reader: asyncio.StreamReader, max_size: int | None) -> DataBlock:
    """Read up to and including CRLF.CRLF; return the unstuffed content."""
    command_limit: int = getattr(reader, "_limit")  # noqa: B009 - asyncio's private attribute
    setattr(reader, "_limit", max(command_limit, DATA_READ_LIMIT))  # noqa: B010
    try:
        return await _read_data(reader, max_size)
    finally:
        setattr(reader, "_limit", command_limit)  # noqa: B010


async def _read_data(reader: asyncio.StreamReader, max_size: int | None) -> DataBlock:
    """:func:`read_data` with the reader's limit raised."""
    buf = bytearray(b"\r\n")  # the virtual CRLF: ".\r\n" right after 354 ends the data
    too_big = False
    while True:
        k = _partial_end(buf)
        if k:
            buf += await reader.readexactly(len(END) - k)
            if buf.endswith(END):
                break
            continue
        try:
            buf += await reader.readuntil(END)
            break
        except asyncio.LimitOverrunError as overrun:
            # No marker in the buffered bytes: they are all content; take them and go on.
            buf += await reader.readexactly(overrun.consumed)
        if max_size and len(buf) - 2 > max_size:
            too_big = True
        if too_big:
            del buf[:-4]  # keep only what may begin the marker; the message is refused
    if too_big or (max_size and len(buf) - 5 > max_size):
        return DataBlock(b"", True)
    # Without the virtual CRLF and the final ".\r\n"; through a memoryview, one copy
    # (a bytearray slice made a second one, 0.2 ms of a 232 KB newsletter).
    body = bytes(memoryview(buf)[2:-3])
    if body.startswith(b"."):
        body = body[1:]
    if _STUFFED_LINE.search(body) is None:  # most mail: replace would scan it twice as slowly
        return DataBlock(body, False)
    return DataBlock(body.replace(b"\r\n.", b"\r\n"), False)


_STUFFED_LINE = re.compile(rb"\r\n\.")
"""A line that starts with a dot, which the client doubled: ``re`` finds the CR with
memchr (85 us for a 232 KB newsletter; ``bytes.replace`` needs 178 us to find none)."""


_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_SIMPLE_ANGLE_ADDR = re.compile(
    rf"[ \t]*<({_ATOM}(?:\.{_ATOM})*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*)>(.*)", re.DOTALL
)


class FastSMTP(SMTP):
    """aiosmtpd's SMTP with the savings above; every command behaves as aiosmtpd's own."""

    _held_reply = b""
    """Continuation lines of the reply being written, sent with its last line."""

    async def push(self, status: str | bytes) -> None:
        """Send a reply line, holding continuation lines until the reply's last line."""
        line = (
            status.encode("utf-8" if self.enable_SMTPUTF8 else "ascii")
            if isinstance(status, str)
            else status
        )
        if line[3:4] == b"-":
            self._held_reply += line + b"\r\n"
            return
        held, self._held_reply = self._held_reply, b""
        await super().push(held + line)

    def _getaddr(self, arg: str) -> tuple[str | None, str | None]:
        """Parse the address of MAIL/RCPT as aiosmtpd 1.4.6 does, plain ones quickly.

        aiosmtpd also defines a ``typing.Protocol`` class inside this method, so
        every MAIL and RCPT built a new class; this version does not.
        """
        if not arg:
            return "", ""
        simple = _SIMPLE_ANGLE_ADDR.fullmatch(arg)
        # aiosmtpd's parser also eats the whitespace and (comments) after ">".
        rest = simple.group(2).lstrip(" \t") if simple is not None else ""
        addr: str
        if simple is not None and not rest.startswith("("):
            addr = simple.group(1)
        else:
            try:
                parse = get_angle_addr if arg.lstrip().startswith("<") else get_addr_spec
                address, rest = parse(arg)
            except HeaderParseError:
                return None, None
            addr = address.addr_spec
        localpart = addr.rpartition("@")[0]
        if self.local_part_limit and len(localpart) > self.local_part_limit:
            return None, None
        return addr, rest

    @syntax("DATA")
    async def smtp_DATA(self, arg: str) -> None:  # noqa: N802 - aiosmtpd's method name
        """Receive the message as aiosmtpd does, but without a Python loop per line."""
        if await self.check_helo_needed():
            return
        if await self.check_auth_needed("DATA"):
            return
        assert self.envelope is not None
        if not self.envelope.rcpt_tos:
            await self.push("503 Error: need RCPT command")
            return
        if arg:
            await self.push("501 Syntax: DATA")
            return
        await self.push("354 End data with <CR><LF>.<CR><LF>")
        try:
            block = await read_data(self._reader, self.data_size_limit)
        except asyncio.IncompleteReadError:
            return  # the client went away mid-message: nothing was acknowledged
        if block.too_big:
            await self.push("552 Error: Too much mail data")
            self._set_post_data_state()  # type: ignore[no-untyped-call]
            return
        self.envelope.content = block.content
        self.envelope.original_content = block.content
        status = await self._call_handler_hook("DATA")
        self._set_post_data_state()  # type: ignore[no-untyped-call]
        await self.push("250 OK" if status is MISSING else status)
