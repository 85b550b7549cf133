"""How a message's bytes and search text are laid out in a blob segment: one zlib stream.

Why compressed, and why together: at a million varied 2 KB messages the
store took 4.5-5x the raw bytes on disk (issue 19 asks for at most 1.5x).
Per message the segment held the raw bytes (2.3 KB) and then the search
text (2.2 KB: mostly the body again, lowercased).  One zlib stream of both
at level 1 is 1.1 KB: the text costs almost nothing more, because it
repeats what the raw bytes just said.  Level 1 costs about 40 us of CPU
per message on the ingest path, off the write lock; decompressing is
about 15 us, and reading the raw bytes stops once they are out.

A row written before schema version 4 has ``packed`` NULL: its raw bytes
then its text are stored as they are, back to back, and still read.
Either way the raw bytes' length and CRC-32 are checked by the store.
"""

from __future__ import annotations

import zlib

LEVEL = 1
"""zlib level: 6 saves another 4% of the bytes for 50% more CPU."""


class UnpackError(ValueError):
    """The stored bytes are not the zlib stream they should be (damaged on disk)."""


PACK_LIMIT = 32 * 1024
"""Messages larger than this (raw bytes plus text) are stored as they are, ``packed`` NULL.

Big mail is mostly base64 attachments, which zlib shrinks by a quarter at a
high price: a 232 KB newsletter took 6.2 ms of CPU on the SMTP loop to
compress (2.8 ms for all the rest of its ingest), a 1 MB mail about 30 ms,
which took the SQLite store's newsletter ingest from 2.9x aiosmtpd's Sink to
0.84x.  The disk goal is about the many small messages, where the gain is 4x.
"""


def pack(raw: bytes, text: bytes) -> tuple[list[bytes], int | None]:
    """Return the chunks the segment keeps for a message, back to back, and its ``packed`` column.

    Small messages: their raw bytes and search text as one zlib stream, whose
    length is ``packed``.  Past :data:`PACK_LIMIT`: both as they are, and None.
    Those two go as two chunks of one ``writev``, not joined first: joining a
    232 KB newsletter and its text was a copy of 242 KB, 6 us hot and 25 us
    on the SMTP loop with the caches cold (issue 19, session 9).
    """
    if len(raw) + len(text) > PACK_LIMIT:
        return [raw, text], None
    stored = zlib.compress(raw + text, LEVEL)
    return [stored], len(stored)


def stored_size(raw_size: int, text_size: int, packed: int | None) -> int:
    """Return how many bytes a message takes in its segment."""
    return raw_size + text_size if packed is None else packed


STORED_SIZE_SQL = "coalesce(packed, raw_size + text_size)"
""":func:`stored_size` as an SQL expression over a ``messages`` row."""


def raw_from(stored: bytes, raw_size: int, packed: int | None) -> bytes:
    """Return the raw bytes from what the segment holds (decompressing only as far as needed)."""
    if packed is None:
        return stored[:raw_size]
    try:
        return zlib.decompressobj().decompress(stored, raw_size)
    except zlib.error as error:
        raise UnpackError(str(error)) from error


def text_from(stored: bytes, raw_size: int, packed: int | None) -> bytes:
    """Return the search text (UTF-8) from what the segment holds."""
    if packed is None:
        return stored[raw_size:]
    try:
        return zlib.decompress(stored)[raw_size:]
    except zlib.error as error:
        raise UnpackError(str(error)) from error
