"""``mailsink sendmail``: the ``/usr/sbin/sendmail`` interface, delivering to a running sink.

PHP's ``mail()``, cron, ``mail``/``mailx``, WordPress and many shell tools
hand mail to a sendmail binary instead of speaking SMTP.  This shim takes the
options those callers pass, reads the message from stdin and delivers it by
SMTP to a sink: ``-S HOST:PORT`` (Mailpit's flag; ``USER:PASS@HOST:PORT`` logs
in first), else the ``MAILSINK_SENDMAIL_SMTP`` variable, else ``127.0.0.1:1025``.  Installed as
``sendmail`` (a symlink to ``mailsink`` named ``sendmail``), it runs without
the subcommand word.

What it does, as Postfix's and Sendmail's submission programs do:

* recipients are the arguments; with ``-t`` (or when there are none) also the
  To, Cc and Bcc headers (the Resent-* ones if the message has any);
* every Bcc header is removed from the message, its addresses stay in the
  envelope (so the sink shows them as Bcc recipients);
* without ``-i``/``-oi`` a line holding only ``.`` ends the message;
* a leading mbox ``From `` line is dropped, line ends become CRLF, and a
  missing From (``-F NAME`` gives its display name), Date or Message-ID
  header is added;
* the envelope sender is ``-f``/``-r``, else ``user@host`` of the caller;
* ``-bs`` speaks SMTP on stdin/stdout (relayed to the sink as it is), ``-bp``
  reports an empty queue, ``-bi``/``-I``/``-q`` do nothing; harmless options
  (``-odi``, ``-oem``, ``-oi``, ``-B``, ``-N``, ``-R``, ``-V``, ``-X``, ...) are
  accepted and ignored; an unknown one is a usage error.

Exit codes are sendmail's (``sysexits.h``), with one line on stderr:
64 (``EX_USAGE``) for bad options or no recipients, 65 for unreadable input,
67 when the sink refused a recipient, 69 when it refused the message, 75
(``EX_TEMPFAIL``: try again) when it cannot be reached or answered 4xx.
"""

from __future__ import annotations

import email.utils
import getpass
import os
import re
import smtplib
import socket
import sys
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import BinaryIO

from mailsink.commands.smtp_target import SMTPTarget, parse_target
from mailsink.message import parse_addresses
from mailsink.smtp import has_control_chars

EX_OK = 0
EX_USAGE = 64
EX_DATAERR = 65
EX_NOUSER = 67
EX_UNAVAILABLE = 69
EX_TEMPFAIL = 75

DEFAULT_SMTP = "127.0.0.1:1025"
SMTP_ENV = "MAILSINK_SENDMAIL_SMTP"
TIMEOUT = 60.0
MAX_INPUT = 256 * 1024 * 1024
"""Most bytes read from stdin (the whole message is held in memory); 65 beyond."""

_VALUE_OPTIONS = frozenset("BbCdFfhLMNOopRrSVXq")
"""Options that take a value, attached (``-fme``) or as the next argument (``-f me``)."""
_SWITCHES = frozenset("cGIimnstUve")
_IGNORE_DOTS = {("o", "i"), ("O", "ignoredots"), ("O", "ignoredots=true")}
_HEADER_LINE = re.compile(rb"[!-9;-~]+:")
_RECIPIENT_HEADERS = (b"to", b"cc", b"bcc")

USAGE = (
    "usage: mailsink sendmail [-t] [-i] [-f SENDER] [-F NAME] [-S HOST:PORT] [-bs] "
    "[recipient ...] < message"
)


class UsageError(Exception):
    """A command line sendmail would refuse (exit 64)."""


@dataclass
class Options:
    """What the command line asked for."""

    recipients: list[str] = field(default_factory=list)
    from_headers: bool = False
    ignore_dots: bool = False
    sender: str | None = None
    full_name: str | None = None
    smtp: str | None = None
    mode: str = "m"
    verbose: bool = False


def parse_options(argv: Sequence[str]) -> Options:
    """Parse sendmail's command line (getopt style, options and recipients mixed)."""
    options = Options()
    args = list(argv)
    index = 0
    only_recipients = False
    while index < len(args):
        arg = args[index]
        index += 1
        if only_recipients or not arg.startswith("-") or arg == "-":
            options.recipients.append(arg)
            continue
        if arg == "--":
            only_recipients = True
            continue
        position = 1
        while position < len(arg):
            letter = arg[position]
            position += 1
            if letter in _SWITCHES:
                _switch(options, letter)
                continue
            if letter not in _VALUE_OPTIONS:
                raise UsageError(f"unknown option -{letter}")
            value = arg[position:]
            if not value and letter != "q":  # -q alone: run the queue
                if index >= len(args):
                    raise UsageError(f"option -{letter} needs a value")
                value = args[index]
                index += 1
            _valued(options, letter, value)
            break
    return options


def _switch(options: Options, letter: str) -> None:
    if letter == "t":
        options.from_headers = True
    elif letter == "i":
        options.ignore_dots = True
    elif letter == "v":
        options.verbose = True
    elif letter == "I":
        options.mode = "i"


def _valued(options: Options, letter: str, value: str) -> None:
    if letter in "fr":
        options.sender = value
    elif letter == "F":
        options.full_name = value
    elif letter == "S":
        options.smtp = value
    elif letter == "b":
        options.mode = value[:1] or "m"
    elif letter == "q":
        options.mode = "q"
    elif (letter, value.lower().replace(" ", "")) in _IGNORE_DOTS:
        options.ignore_dots = True
    # Everything else (-oem, -odi, -B8BITMIME, -N, -R, -V, -X, -C, -L, ...) changes
    # nothing a sink does.


def read_message(stream: BinaryIO, ignore_dots: bool) -> bytes:
    """Read the message from stdin: all of it, or (without -i) up to a line of one dot."""
    if ignore_dots:
        data = stream.read(MAX_INPUT + 1)
    else:
        lines: list[bytes] = []
        total = 0
        while total <= MAX_INPUT:
            line = stream.readline(MAX_INPUT + 1)
            if not line or line.rstrip(b"\r\n") == b".":
                break
            lines.append(line)
            total += len(line)
        data = b"".join(lines)
    if len(data) > MAX_INPUT:
        raise ValueError(f"the message is larger than {MAX_INPUT} bytes")
    return data


def split_headers(data: bytes) -> tuple[list[bytes], bytes]:
    """Split a message into its header fields (folded lines kept together) and body.

    Line ends are made CRLF first.  The header block ends at the first empty
    line, or at the first line that is no header field (which starts the body).
    """
    if data.startswith(b"From "):  # an mbox separator line, not a header
        data = data.partition(b"\n")[2]
    data = re.sub(rb"\r?\n", b"\r\n", data)
    fields: list[bytes] = []
    position = 0
    while position < len(data):
        end = data.find(b"\r\n", position)
        end = len(data) if end < 0 else end + 2
        line = data[position:end]
        if line in (b"\r\n", b""):
            return fields, data[end:]
        if line[:1] in (b" ", b"\t") and fields:
            fields[-1] += line
        elif _HEADER_LINE.match(line):
            fields.append(line if line.endswith(b"\r\n") else line + b"\r\n")
        else:
            break
        position = end
    return fields, data[position:]


def _name(field_line: bytes) -> bytes:
    return field_line.partition(b":")[0].strip().lower()


def _addresses(values: list[str]) -> list[str]:
    return [a.address for a in parse_addresses(values) if a.address]


def header_recipients(fields: list[bytes]) -> list[str]:
    """Return the addresses of To, Cc and Bcc (of the Resent-* fields, if there are any)."""
    resent = any(_name(f).startswith(b"resent-") for f in fields)
    wanted = {(b"resent-" + n) if resent else n for n in _RECIPIENT_HEADERS}
    values = [
        f.partition(b":")[2].decode("utf-8", "surrogateescape").strip()
        for f in fields
        if _name(f) in wanted
    ]
    return _addresses(values)


def default_sender() -> str:
    """Return ``user@host`` of the calling user, as sendmail does without ``-f``."""
    try:
        user = getpass.getuser()
    except (OSError, KeyError):  # no passwd entry (containers) and no LOGNAME/USER
        user = "nobody"
    return f"{user}@{socket.gethostname() or 'localhost'}"


@dataclass(frozen=True)
class Submission:
    """A message ready for SMTP: envelope and the bytes to send."""

    sender: str
    recipients: tuple[str, ...]
    data: bytes


def prepare(options: Options, data: bytes) -> Submission:
    """Build the envelope and the message as a submission program does (module docstring)."""
    fields, body = split_headers(data)
    recipients = envelope_recipients(options, fields)
    sender = options.sender if options.sender is not None else default_sender()
    sender = sender.strip().removeprefix("<").removesuffix(">")
    if has_control_chars(sender) or (options.full_name and has_control_chars(options.full_name)):
        raise UsageError("control characters in the sender or its name")
    kept = [f for f in fields if _name(f) not in (b"bcc", b"resent-bcc")]
    names = {_name(f) for f in kept}
    if b"from" not in names:
        author = sender or default_sender()
        shown = email.utils.formataddr((options.full_name or "", author))
        kept.append(f"From: {shown}\r\n".encode())
    if b"date" not in names:
        kept.append(f"Date: {email.utils.formatdate(localtime=True)}\r\n".encode())
    if b"message-id" not in names:
        domain = (sender.rpartition("@")[2] or socket.gethostname() or "localhost").strip("[]")
        kept.append(f"Message-ID: {email.utils.make_msgid(domain=domain)}\r\n".encode())
    return Submission(sender, tuple(recipients), b"".join(kept) + b"\r\n" + body)


def envelope_recipients(options: Options, fields: list[bytes]) -> list[str]:
    """Return the arguments' addresses, plus the headers' with -t or without arguments."""
    for argument in options.recipients:  # before parsing, which would drop CR/LF silently
        if has_control_chars(argument):
            raise UsageError(f"bad recipient {argument!r}")
    recipients = _addresses(options.recipients)
    if options.from_headers or not options.recipients:
        recipients += header_recipients(fields)
    recipients = list(dict.fromkeys(recipients))
    if not recipients:
        raise UsageError("no recipients: give them as arguments or use -t with To/Cc/Bcc headers")
    for address in recipients:
        if has_control_chars(address):
            raise UsageError(f"bad recipient {address!r}")
    return recipients


def deliver(submission: Submission, target: SMTPTarget, verbose: bool = False) -> int:
    """Send one submission over SMTP; return the exit status (one line on stderr if not 0)."""
    needs_utf8 = not all(a.isascii() for a in (submission.sender, *submission.recipients))
    where = target.shown
    try:
        with target.connect(TIMEOUT, verbose) as smtp:
            refused = smtp.sendmail(
                submission.sender,
                list(submission.recipients),
                submission.data,
                mail_options=["SMTPUTF8"] if needs_utf8 else [],
            )
    except smtplib.SMTPRecipientsRefused as error:
        return _refused(error.recipients)
    except smtplib.SMTPResponseException as error:
        reply = error.smtp_error
        text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply
        _say(f"the sink at {where} refused the message: {error.smtp_code} {text}")
        return EX_TEMPFAIL if 400 <= error.smtp_code < 500 else EX_UNAVAILABLE
    except (OSError, smtplib.SMTPException) as error:
        _say(f"cannot deliver to a sink at {where}: {error} (is mailsink running?)")
        return EX_TEMPFAIL
    return _refused(refused) if refused else EX_OK


def _refused(recipients: Mapping[str, tuple[int, bytes]]) -> int:
    """Report refused recipients; 75 if any refusal was temporary, else 67."""
    for address, (code, text) in recipients.items():
        _say(f"recipient {address} refused: {code} {text.decode('utf-8', 'replace')}")
    temporary = any(400 <= code < 500 for code, _text in recipients.values())
    return EX_TEMPFAIL if temporary else EX_NOUSER


def relay_smtp(host: str, port: int, stdin: BinaryIO, stdout: BinaryIO) -> int:
    """``-bs``: connect stdin/stdout to the sink's SMTP session, byte for byte."""
    try:
        connection = socket.create_connection((host, port), timeout=TIMEOUT)
    except OSError as error:
        stdout.write(b"421 4.3.0 mailsink sendmail: the sink is not reachable\r\n")
        stdout.flush()
        _say(f"cannot reach a sink at {host}:{port}: {error} (is mailsink running?)")
        return EX_TEMPFAIL
    connection.settimeout(None)

    def upstream() -> None:
        # At the end of input the session ends as with QUIT (sendmail: "lost input
        # channel"); half-closing instead would make the server drop commands
        # still in its buffer, such as a pipelined DATA.
        tail = b""
        try:
            while chunk := os.read(stdin.fileno(), 65536):
                connection.sendall(chunk)
                tail = (tail + chunk)[-64:]
            last = tail.rstrip(b"\r\n").rpartition(b"\n")[2].strip().upper()
            if last != b"QUIT":
                connection.sendall(b"QUIT\r\n")
        except OSError:
            pass

    threading.Thread(target=upstream, name="sendmail-bs", daemon=True).start()
    with connection:
        while chunk := connection.recv(65536):
            stdout.write(chunk)
            stdout.flush()
    return EX_OK


def _say(text: str) -> None:
    print(f"mailsink sendmail: {text}", file=sys.stderr)


def main(argv: Sequence[str], env: Mapping[str, str]) -> int:
    """Run the shim; return a sendmail exit status."""
    if list(argv[:1]) in (["--help"], ["-?"]):
        print(USAGE)
        return EX_OK
    try:
        options = parse_options(argv)
        address = options.smtp or env.get(SMTP_ENV) or DEFAULT_SMTP
        try:
            target = parse_target(address)
        except ValueError as error:
            raise UsageError(f"-S / {SMTP_ENV}: {error}") from None
        if options.mode != "m":
            return _other_mode(options.mode, target.host, target.port)
        try:
            data = read_message(sys.stdin.buffer, options.ignore_dots)
        except (OSError, ValueError) as error:
            _say(f"cannot read the message: {error}")
            return EX_DATAERR
        submission = prepare(options, data)
    except UsageError as error:
        _say(str(error))
        print(USAGE, file=sys.stderr)
        return EX_USAGE
    return deliver(submission, target, options.verbose)


def _other_mode(mode: str, host: str, port: int) -> int:
    """Run ``-bs``, ``-bp``, ``-bi`` or ``-q``; refuse the modes a sink has no use for."""
    if mode == "s":
        return relay_smtp(host, port, sys.stdin.buffer, sys.stdout.buffer)
    if mode == "p":
        print("Mail queue is empty")
        return EX_OK
    if mode in ("i", "q"):  # rebuild aliases, run the queue: nothing to do
        return EX_OK
    raise UsageError(f"-b{mode} is not supported (only -bm, -bs, -bp, -bi)")
