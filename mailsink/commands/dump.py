"""``mailsink dump DIR`` / ``--mbox FILE``: messages out, byte-exact, as .eml files or one mbox.

From a store file (``--store FILE``) or a running sink's API (``--url``,
default ``http://127.0.0.1:8025`` or ``MAILSINK_DUMP_URL``; credentials in
the URL, ``http://user:pass@host:8025``, are sent as basic auth); every
message, or those matching ``--query`` (the search language of the UI).
Each message is written as ``DIR/<ID>.eml`` with the exact bytes received,
oldest first; ``--mbox`` writes one mboxrd file instead (``mailfiles.py``).

A server is not trusted: a message ID becomes a file name only if it is 1-100
letters, digits, ``-`` or ``_`` (so ``../x`` or ``/etc/passwd`` never leaves
DIR, Mailpit GHSA-qx5x-85p8-vg4j), each page must bring new IDs, and each raw
message is read up to a size cap; what fails a check is reported and skipped.
Exit status: 0 when everything was written, 1 when something was skipped, 2
for bad arguments, 75 when the sink cannot be reached.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import ssl
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from mailsink.commands.mailfiles import MAX_MESSAGE, mbox_entry
from mailsink.credentials import split_url_credentials

SAFE_ID = re.compile(r"[A-Za-z0-9_-]{1,100}")
PAGE = 1000
MAX_PAGES = 100_000
EX_TEMPFAIL = 75


class DumpError(Exception):
    """The source cannot be read at all (the message says why; never a credential)."""


@dataclass(frozen=True)
class Item:
    """One message to write: its ID, envelope sender, time received and raw bytes."""

    id: str
    sender: str
    received: float
    raw: bytes


def is_safe_id(message_id: object) -> bool:
    """Tell whether an ID from a server may become a file name inside DIR."""
    return isinstance(message_id, str) and SAFE_ID.fullmatch(message_id) is not None


def from_store(path: str, query: str | None) -> Iterator[Item]:
    """Yield the messages of a store file, oldest first."""
    from mailsink.search import parse_query
    from mailsink.store import open_store

    if not Path(path).is_file():
        raise DumpError(f"no store file {path}")
    store = open_store(path)
    try:
        ids = store.ids(parse_query(query) if query else None)
        for message_id in reversed(ids):
            stored = store.get(message_id)
            raw = store.raw(message_id)
            if stored is None or raw is None:  # deleted meanwhile
                continue
            yield Item(message_id, stored.envelope.mail_from, stored.received, raw)
    finally:
        store.close()


class ApiSource:
    """A running sink's (or Mailpit's) HTTP API, with basic auth from the URL."""

    def __init__(self, url: str, cafile: str | None = None) -> None:
        self.url, self.headers = split_url_credentials(url.rstrip("/"))
        self.shown = self.url  # for messages: without the credentials
        self.context = ssl.create_default_context(cafile=cafile) if cafile else None

    def get(self, path: str, params: dict[str, Any] | None = None, limit: int = 64 << 20) -> bytes:
        """GET a path; return at most ``limit`` bytes of the body (more is an error)."""
        query = "?" + urllib.parse.urlencode(params) if params else ""
        request = urllib.request.Request(self.url + path + query, headers=self.headers)
        try:
            with urllib.request.urlopen(request, timeout=60, context=self.context) as response:
                body = bytes(response.read(limit + 1))
        except urllib.error.HTTPError as error:
            hint = " (credentials: http://USER:PASS@HOST:PORT)" if error.code == 401 else ""
            raise DumpError(f"GET {path} answered {error.code}{hint}") from None
        except (urllib.error.URLError, OSError) as error:
            raise ConnectionError(f"cannot reach the sink at {self.shown}: {error}") from None
        if len(body) > limit:
            raise DumpError(f"GET {path}: the answer is larger than {limit} bytes")
        return body

    def summaries(self, query: str | None) -> list[dict[str, Any]]:
        """Return every message summary (matching ``query``), oldest first."""
        seen: dict[str, dict[str, Any]] = {}
        path = "/api/v1/search" if query else "/api/v1/messages"
        for page in range(MAX_PAGES):
            params: dict[str, Any] = {"start": page * PAGE, "limit": PAGE}
            if query:
                params["query"] = query
            try:
                answer = json.loads(self.get(path, params))
                items = answer["messages"]
                assert isinstance(items, list)
            except (ValueError, KeyError, TypeError, AssertionError):
                raise DumpError(f"GET {path}: not a message list") from None
            new = 0
            for item in items:
                key = item.get("ID") if isinstance(item, dict) else None
                if isinstance(key, str) and key not in seen:
                    seen[key] = item
                    new += 1
            if not items or new == 0 or len(items) < PAGE:
                break
        return list(reversed(seen.values()))

    def items(self, query: str | None, skipped: list[str]) -> Iterator[Item]:
        """Yield the messages, oldest first; IDs that fail the check go to ``skipped``."""
        for summary in self.summaries(query):
            message_id = summary["ID"]
            if not is_safe_id(message_id):
                skipped.append(f"unsafe message ID {message_id[:80]!r} from the server")
                continue
            try:
                raw = self.get(f"/api/v1/message/{message_id}/raw", limit=MAX_MESSAGE)
            except DumpError as error:
                skipped.append(f"{message_id}: {error}")
                continue
            envelope = summary.get("Envelope")
            sender = envelope.get("MailFrom", "") if isinstance(envelope, dict) else ""
            author = summary.get("From")
            if not sender and isinstance(author, dict):
                sender = author.get("Address", "")
            yield Item(message_id, str(sender), _created(summary.get("Created")), raw)


def _created(value: object) -> float:
    import datetime

    try:
        text = str(value).replace("Z", "+00:00")
        return datetime.datetime.fromisoformat(text).timestamp()
    except ValueError:
        return 0.0


def write_eml(folder: Path, item: Item) -> None:
    """Write ``folder/<ID>.eml`` atomically (a file of the same ID is replaced)."""
    if not is_safe_id(item.id):  # also for IDs from a store file
        raise ValueError(f"unsafe message ID {item.id!r}")
    target = folder / f"{item.id}.eml"
    if target.resolve().parent != folder.resolve():
        raise ValueError(f"unsafe message ID {item.id!r}")
    partial = folder / f".{item.id}.eml.partial"
    partial.write_bytes(item.raw)
    os.replace(partial, target)


def write_all(
    items: Iterator[Item], folder: Path | None, mbox: BinaryIO | None, skipped: list[str]
) -> int:
    """Write every item to the folder or the mbox stream; return how many were written."""
    written = 0
    for item in items:
        if mbox is not None:
            mbox.write(mbox_entry(item.raw, item.sender, item.received))
            written += 1
            continue
        assert folder is not None
        try:
            write_eml(folder, item)
            written += 1
        except (OSError, ValueError) as error:
            skipped.append(f"{item.id[:80]!r}: {error}")
    return written


def build_parser() -> argparse.ArgumentParser:
    """Return the subcommand's argument parser."""
    parser = argparse.ArgumentParser(
        prog="mailsink dump", description="Write messages out as .eml files or an mbox file."
    )
    parser.add_argument("folder", nargs="?", type=Path, metavar="DIR", help="write DIR/<ID>.eml")
    parser.add_argument("--mbox", type=Path, metavar="FILE", help="write one mbox file instead")
    parser.add_argument("--query", metavar="SEARCH", help="only the messages matching a search")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--store", metavar="FILE", help="read this SQLite store file")
    source.add_argument(
        "--url",
        metavar="URL",
        help="read a running sink's API (default http://127.0.0.1:8025, MAILSINK_DUMP_URL; "
        "http://USER:PASS@HOST:PORT for basic auth)",
    )
    parser.add_argument("--cafile", metavar="FILE", help="trust this certificate for https")
    return parser


def main(argv: Sequence[str], env: Mapping[str, str]) -> int:
    """Run ``mailsink dump``; return the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if (args.folder is None) == (args.mbox is None):
        parser.error("give a folder DIR or --mbox FILE (one of them)")
    skipped: list[str] = []
    if args.store:
        items = from_store(args.store, args.query)
    else:
        url = args.url or env.get("MAILSINK_DUMP_URL") or "http://127.0.0.1:8025"
        source = ApiSource(url, args.cafile)
        items = source.items(args.query, skipped)
    try:
        if args.mbox is not None:
            with args.mbox.open("wb") as stream:
                written = write_all(items, None, stream, skipped)
        else:
            args.folder.mkdir(parents=True, exist_ok=True)
            written = write_all(items, args.folder, None, skipped)
    except ConnectionError as error:
        print(f"mailsink dump: {error}", file=sys.stderr)
        return EX_TEMPFAIL
    except DumpError as error:
        print(f"mailsink dump: {error}", file=sys.stderr)
        return 1
    for line in skipped:
        print(f"mailsink dump: skipped {line}", file=sys.stderr)
    print(f"mailsink dump: {written} written, {len(skipped)} skipped", file=sys.stderr)
    return 1 if skipped else 0
