"""``mailsink ingest PATH...``: .eml files, Maildir folders and mbox files into a sink.

Into a running sink by SMTP (``--smtp HOST:PORT``, default ``127.0.0.1:1025``),
so each message takes the same path as any other mail, events and all; or
with ``--store FILE`` straight into a SQLite store file (a sink need not run;
while one runs on that file, send to it by SMTP instead, so that its views
see the new mail) through :class:`mailsink.ingest.Ingestor`, the one write
path.  Files are read as ``mailfiles.py`` says (mboxrd, CRLF line ends);
the envelope of each message comes from its headers: the sender from
Return-Path (else From), the recipients from To, Cc and Bcc (else
Delivered-To / X-Original-To, else ``undisclosed-recipients@localhost``).

A file that is not mail is reported and skipped, the others still go in;
progress is shown on a terminal.  Exit status: 0 when everything was stored,
1 when something was skipped or refused, 2 for bad arguments, 75 when the
sink cannot be reached.
"""

from __future__ import annotations

import argparse
import contextlib
import smtplib
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from mailsink.commands.mailfiles import Found, Skipped, find_messages
from mailsink.commands.sendmail import header_recipients, split_headers
from mailsink.commands.smtp_target import SMTPTarget, parse_target
from mailsink.config import is_memory_store
from mailsink.message import Envelope, parse_addresses

if TYPE_CHECKING:
    from mailsink.ingest import Ingestor

BATCH = 256
NO_RECIPIENT = "undisclosed-recipients@localhost"
EX_TEMPFAIL = 75


def envelope_from_headers(raw: bytes, source: str) -> Envelope:
    """Return the envelope an ingested message gets from its own headers."""
    fields, _body = split_headers(raw[: 256 * 1024])

    def values(*names: bytes) -> list[str]:
        wanted = set(names)
        return [
            f.partition(b":")[2].decode("utf-8", "surrogateescape").strip()
            for f in fields
            if f.partition(b":")[0].strip().lower() in wanted
        ]

    return_path = values(b"return-path")
    sender = return_path[0].strip().strip("<>").strip() if return_path else ""
    if not return_path:
        authors = parse_addresses(values(b"from"))
        sender = authors[0].address if authors else ""
    recipients = header_recipients(fields)
    if not recipients:
        recipients = [a.address for a in parse_addresses(values(b"delivered-to", b"x-original-to"))]
    rcpts = tuple(dict.fromkeys(r for r in recipients if r)) or (NO_RECIPIENT,)
    return Envelope(sender, rcpts, helo="mailsink-ingest", peer=f"file:{source}"[:512])


class Progress:
    """Count stored and skipped messages; redraw one line on a terminal."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.stored = 0
        self.failed = 0
        self._drawn = 0.0

    def ok(self) -> None:
        """Count a stored message."""
        self.stored += 1
        self._draw()

    def skip(self, source: str, reason: str) -> None:
        """Report a message that did not go in, on its own line."""
        self.failed += 1
        self._clear()
        print(f"mailsink ingest: skipped {source}: {reason}", file=sys.stderr)
        self._draw(force=True)

    def _draw(self, force: bool = False) -> None:
        now = time.monotonic()
        if self.enabled and (force or now - self._drawn > 0.1):
            self._drawn = now
            print(f"\r{self.stored} stored, {self.failed} skipped", end="", file=sys.stderr)

    def _clear(self) -> None:
        if self.enabled:
            print("\r\033[K", end="", file=sys.stderr)

    def finish(self) -> None:
        """Print the summary line."""
        self._clear()
        print(f"mailsink ingest: {self.stored} stored, {self.failed} skipped", file=sys.stderr)


def _found(items: Iterator[Found | Skipped], progress: Progress) -> Iterator[Found]:
    for item in items:
        if isinstance(item, Skipped):
            progress.skip(item.source, item.reason)
        else:
            yield item


class SMTPSender:
    """One SMTP connection to the sink, opened on first use and again if it drops."""

    def __init__(self, target: SMTPTarget) -> None:
        self.target = target
        self._smtp: smtplib.SMTP | None = None

    def send(self, item: Found) -> str | None:
        """Send one message; return why it was refused, or None once it is stored.

        Raises OSError when the sink cannot be reached at all.
        """
        envelope = envelope_from_headers(item.raw, item.source)
        addresses = (envelope.mail_from, *envelope.rcpt_tos)
        utf8 = [] if all(a.isascii() for a in addresses) else ["SMTPUTF8"]
        for attempt in (1, 2):
            if self._smtp is None:
                self._smtp = self.target.connect(timeout=60)
            try:
                self._smtp.sendmail(
                    envelope.mail_from, list(envelope.rcpt_tos), item.raw, mail_options=utf8
                )
                return None
            except smtplib.SMTPServerDisconnected:
                self._smtp = None
                if attempt == 2:
                    return "the sink closed the connection"
            except smtplib.SMTPResponseException as error:
                self._reset()
                return f"refused: {error.smtp_code} {error.smtp_error!r}"
            except smtplib.SMTPRecipientsRefused as error:
                self._reset()
                return f"recipients refused: {list(error.recipients)}"
        return None

    def _reset(self) -> None:
        """Abort the refused transaction; drop the connection if that fails too."""
        try:
            if self._smtp is not None:
                self._smtp.rset()
        except (OSError, smtplib.SMTPException):
            self._smtp = None

    def close(self) -> None:
        """Say QUIT, if connected."""
        smtp, self._smtp = self._smtp, None
        with contextlib.suppress(OSError, smtplib.SMTPException):
            if smtp is not None:
                smtp.quit()


def ingest_by_smtp(items: Iterator[Found], target: SMTPTarget, progress: Progress) -> int:
    """Send each message to the sink by SMTP; return the exit status."""
    sender = SMTPSender(target)
    try:
        for item in items:
            refused = sender.send(item)
            if refused is None:
                progress.ok()
            else:
                progress.skip(item.source, refused)
    except (OSError, smtplib.SMTPException) as error:  # unreachable, or AUTH refused
        progress.finish()
        where = target.shown
        print(f"mailsink ingest: cannot deliver to a sink at {where}: {error}", file=sys.stderr)
        # SMTPException is an OSError too: test it first.
        return 1 if isinstance(error, smtplib.SMTPException) else EX_TEMPFAIL
    finally:
        sender.close()
    return 0


def ingest_into_store(path: str, items: Iterator[Found], progress: Progress) -> int:
    """Store the messages into a store file through the Ingestor, in batches."""
    from mailsink.ingest import Ingestor
    from mailsink.mailbox import Mailbox
    from mailsink.store import open_store

    store = open_store(path, 0, "normal")
    ingestor = Ingestor(Mailbox(store))
    try:
        batch: list[tuple[bytes, Envelope]] = []
        for item in items:
            batch.append((item.raw, envelope_from_headers(item.raw, item.source)))
            if len(batch) >= BATCH:
                _store(ingestor, batch, progress)
        _store(ingestor, batch, progress)
    finally:
        store.close()
    return 0


def _store(ingestor: Ingestor, batch: list[tuple[bytes, Envelope]], progress: Progress) -> None:
    if batch:
        ingestor.store_batch(batch)
        for _ in batch:
            progress.ok()
        batch.clear()


def build_parser() -> argparse.ArgumentParser:
    """Return the subcommand's argument parser."""
    parser = argparse.ArgumentParser(
        prog="mailsink ingest",
        description="Store .eml files, Maildir folders and mbox files in a sink.",
    )
    parser.add_argument("paths", nargs="+", type=Path, metavar="PATH")
    target = parser.add_mutually_exclusive_group()
    target.add_argument(
        "--smtp",
        metavar="[USER:PASS@]HOST:PORT",
        help="send to the running sink there (default 127.0.0.1:1025, MAILSINK_INGEST_SMTP); "
        "USER:PASS@ logs in first",
    )
    target.add_argument(
        "--store", metavar="FILE", help="store straight into this SQLite store file instead"
    )
    return parser


def main(argv: Sequence[str], env: Mapping[str, str]) -> int:
    """Run ``mailsink ingest``; return the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    progress = Progress(sys.stderr.isatty())
    items = _found(find_messages(args.paths), progress)
    if args.store:
        if is_memory_store(args.store):
            parser.error("--store needs a file path (a memory store ends with this command)")
        status = ingest_into_store(args.store, items, progress)
    else:
        try:
            target = parse_target(args.smtp or env.get("MAILSINK_INGEST_SMTP") or "127.0.0.1:1025")
        except ValueError as error:
            parser.error(f"--smtp: {error}")
        status = ingest_by_smtp(items, target, progress)
        if status:
            return status
    progress.finish()
    return 1 if progress.failed else status
