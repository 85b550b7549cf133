"""Mail on disk: find messages in .eml files, Maildir folders and mbox files; write mbox.

Pure file handling, no sink and no network: ``ingest`` reads with
:func:`find_messages`, ``dump --mbox`` writes with :func:`mbox_entry`.

* **mbox** is read and written as *mboxrd*: a message starts at a ``From ``
  line at the top of the file or after an empty line; inside a message, lines
  ``From ``, ``>From ``, ``>>From `` ... carry one more ``>`` than in the
  message, so any text survives a round trip (mboxo, which quotes only
  ``From ``, cannot tell ``>From `` in the text from a quoted one).
* **Line ends.** Messages are stored as SMTP carries them, with CRLF line
  ends: a message in CRLF goes in byte for byte; one with bare LF (as mbox and
  Maildir files usually are) gets CRLF, and a missing final line end is added.
* **Not mail** is a file whose first line is no header field (binary data, a
  text file, an empty file): it is reported and skipped.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

MAX_MESSAGE = 256 * 1024 * 1024
"""Largest message read from a file (larger ones are reported and skipped)."""

_HEADER_LINE = re.compile(rb"[!-9;-~]+:")
_QUOTED_FROM = re.compile(rb"^>*From ", re.MULTILINE)
_BARE_LF = re.compile(rb"(?<!\r)\n")


@dataclass(frozen=True)
class Found:
    """A message read from disk: where from and its bytes (CRLF line ends)."""

    source: str
    raw: bytes


@dataclass(frozen=True)
class Skipped:
    """A file (or mbox entry) that is not mail, and why."""

    source: str
    reason: str


def with_crlf(raw: bytes) -> bytes:
    """Return the message with CRLF line ends, ending in one (as SMTP carries it)."""
    if b"\n" in raw and _BARE_LF.search(raw):
        raw = _BARE_LF.sub(b"\r\n", raw)
    if raw and not raw.endswith(b"\r\n"):
        raw += b"\r\n"
    return raw


def looks_like_mail(raw: bytes) -> bool:
    """Tell whether bytes start with a header field (what every message does)."""
    return bool(_HEADER_LINE.match(raw)) and b"\x00" not in raw[:4096]


def is_maildir(folder: Path) -> bool:
    """Tell whether a folder is a Maildir (has cur/ and new/)."""
    return (folder / "cur").is_dir() and (folder / "new").is_dir()


def is_mbox(path: Path) -> bool:
    """Tell whether a file is an mbox: it starts with a ``From `` line."""
    try:
        with path.open("rb") as stream:
            return stream.read(5) == b"From "
    except OSError:
        return False


def find_messages(paths: list[Path]) -> Iterator[Found | Skipped]:
    """Yield every message under the paths (files, Maildirs, folders of them), in order."""
    for path in paths:
        if path.is_dir():
            yield from _folder(path)
        elif path.is_file():
            yield from _file(path)
        else:
            yield Skipped(str(path), "no such file or folder")


def _folder(folder: Path) -> Iterator[Found | Skipped]:
    if is_maildir(folder):
        for sub in ("new", "cur"):
            for path in sorted((folder / sub).iterdir()):
                if path.is_file() and not path.name.startswith("."):
                    yield _eml(path)
        return
    for path in sorted(folder.iterdir()):
        if path.name.startswith(".") or path.name in ("tmp",):
            continue
        if path.is_dir():
            yield from _folder(path)
        elif path.is_file():
            yield from _file(path)


def _file(path: Path) -> Iterator[Found | Skipped]:
    if is_mbox(path):
        try:
            with path.open("rb") as stream:
                yield from read_mbox(stream, str(path))
        except OSError as error:
            yield Skipped(str(path), f"cannot read: {error.strerror or error}")
        return
    yield _eml(path)


def _eml(path: Path) -> Found | Skipped:
    try:
        if path.stat().st_size > MAX_MESSAGE:
            return Skipped(str(path), f"larger than {MAX_MESSAGE} bytes")
        raw = path.read_bytes()
    except OSError as error:
        return Skipped(str(path), f"cannot read: {error.strerror or error}")
    if not looks_like_mail(raw):
        return Skipped(str(path), "not mail (does not start with a header field)")
    return Found(str(path), with_crlf(raw))


def read_mbox(stream: BinaryIO, name: str) -> Iterator[Found | Skipped]:
    """Yield the messages of an mboxrd stream, read line by line (any file size)."""
    lines: list[bytes] = []
    size = 0
    number = 0
    previous_blank = True
    for line in stream:
        if line.startswith(b"From ") and previous_blank:
            if number:
                yield _mbox_message(lines, f"{name}#{number}", size)
            number += 1
            lines, size = [], 0
            previous_blank = False
            continue
        previous_blank = line in (b"\n", b"\r\n")
        if size <= MAX_MESSAGE:
            lines.append(line)
        size += len(line)
    if number:
        yield _mbox_message(lines, f"{name}#{number}", size)


def _mbox_message(lines: list[bytes], source: str, size: int) -> Found | Skipped:
    if size > MAX_MESSAGE:
        return Skipped(source, f"larger than {MAX_MESSAGE} bytes")
    if lines and lines[-1] in (b"\n", b"\r\n"):
        lines = lines[:-1]  # the empty line before the next From line is the separator's
    raw = _QUOTED_FROM.sub(lambda m: m.group(0)[1:], b"".join(lines)) if lines else b""
    if not looks_like_mail(raw):
        return Skipped(source, "not mail (does not start with a header field)")
    return Found(source, with_crlf(raw))


def mbox_entry(raw: bytes, sender: str, received: float) -> bytes:
    """Return one message as an mboxrd entry: From line, quoted message, empty line."""
    when = time.asctime(time.gmtime(received))
    quoted = _QUOTED_FROM.sub(lambda m: b">" + m.group(0), raw)
    if quoted and not quoted.endswith(b"\n"):
        quoted += b"\n"
    sender = "".join(sender.split()) or "MAILER-DAEMON"  # one word on the From line
    from_line = f"From {sender} {when}\n".encode()
    return from_line + quoted + b"\n"
