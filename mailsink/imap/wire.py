"""How IMAP data is written: atoms, quoted strings, literals, NIL, lists."""

from __future__ import annotations

import re

_QUOTABLE = re.compile(rb"[\x01-\x09\x0b\x0c\x0e-\x7f]*")
"""Octets a quoted string may carry (7-bit, no NUL, CR or LF)."""

_ATOM = re.compile(r"[A-Za-z0-9_.+/-]+")

NIL = b"NIL"


def string(value: bytes | str | None) -> bytes:
    """Return an nstring: NIL, a quoted string, or a literal for anything else."""
    if value is None:
        return NIL
    data = value.encode("utf-8", "surrogateescape") if isinstance(value, str) else value
    if len(data) < 1024 and _QUOTABLE.fullmatch(data):
        return b'"' + data.replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'
    return literal(data)


def mailbox(name: str) -> bytes:
    """Return a mailbox name: bare when it is a plain atom (``INBOX``), else quoted."""
    if _ATOM.fullmatch(name):
        return name.encode("ascii")
    return string(name)


def literal(data: bytes) -> bytes:
    """Return ``{n}CRLF`` followed by the bytes."""
    return b"{%d}\r\n" % len(data) + data


def parenthesised(items: list[bytes]) -> bytes:
    """Return ``(a b c)``, or NIL for an empty list."""
    return b"(" + b" ".join(items) + b")" if items else NIL
