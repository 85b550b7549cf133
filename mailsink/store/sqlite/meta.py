"""A messages row's summary and envelope, kept as small zlib streams with a preset dictionary.

Why (issue 19, disk at most 1.5x the raw bytes): the summary JSON (577 B
for a 2 KB message) and the envelope JSON (123 B) were half of each
``messages`` row, and the store took 1.53-1.57x the raw bytes.  Most of
those bytes are the same keys in every row; a raw deflate stream primed
with them (``zdict``) and with the usual empty values takes both from 700
to 304 B, for about 40 us of CPU at ingest and 15 us when a row is read (a
page of 50: 0.7 ms).  A plain zlib stream, without the dictionary, was 405 B.

Schema version 5 writes these columns as BLOBs; rows written before keep
their JSON text, and :func:`unpack` returns text as it is, so a version 4
file needs no rewrite to be read (its rows simply stay larger).
"""

from __future__ import annotations

import zlib

LEVEL = 6
"""Level 6 costs no more than 1 on these few hundred bytes and saves a little."""

WBITS = -11
"""A raw stream (no zlib header or checksum: 6 bytes a row) with a 2 KB window, which
holds the dictionary and a whole summary; a smaller window is cheaper to set up."""

SUMMARY_DICT = (
    b'"],"cc":[],"reply_to":[],"bcc":[]}'
    b',"attachments":0,"inline":0,"tags":[],"long_lines":false,"to":[["","'
    b'{"message_id":"","subject":"","from":["","'
    b'"],"return_path":"","date":,"size":,"snippet":"'
)
"""What every summary JSON (``codec.summary_to_json``) says, the likeliest last.

zlib finds matches nearest the end of the dictionary cheapest, so the keys
every row repeats come last.  Changing it makes rows written before unreadable:
a new dictionary needs a new schema version."""

ENVELOPE_DICT = b'"],"helo":"","peer":"","tls":false,"auth_user":null}{"mail_from":"","rcpt_tos":["'
"""What every envelope JSON (``codec.envelope_to_json``) says (see SUMMARY_DICT)."""


class MetaError(ValueError):
    """A summary or envelope column does not decompress (the database is damaged)."""


def pack(text: str, zdict: bytes) -> bytes:
    """Return a summary or envelope JSON as the column keeps it.

    Strict UTF-8, as SQLite's own text columns took it: a lone surrogate (an
    8-bit MAIL FROM decoded with ``surrogateescape``) raises
    UnicodeEncodeError and the message is refused, as the memory store refuses it.
    """
    packer = zlib.compressobj(LEVEL, zlib.DEFLATED, WBITS, 8, zlib.Z_DEFAULT_STRATEGY, zdict)
    return packer.compress(text.encode("utf-8")) + packer.flush()


def unpack(value: object, zdict: bytes) -> str:
    """Return the JSON text of a column :func:`pack` wrote, or of a row from before version 5."""
    if isinstance(value, str):
        return value
    if not isinstance(value, bytes):
        raise MetaError(f"a summary or envelope of type {type(value).__name__}")
    try:
        unpacker = zlib.decompressobj(WBITS, zdict)
        data = unpacker.decompress(value) + unpacker.flush()
    except zlib.error as error:
        raise MetaError(str(error)) from error
    if not unpacker.eof:
        raise MetaError("a summary or envelope cut short")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise MetaError(str(error)) from error
