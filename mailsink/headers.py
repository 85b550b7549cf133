"""Decode header values, whatever bytes and encodings a client sent.

Headers are parsed with ``compat32`` and decoded here by hand because
``email.policy.default`` header parsing is quadratic on pathological headers
(python/cpython#136063); every value is cut to :data:`MAX_HEADER_CHARS`
before it is decoded.  Raw 8-bit header bytes (SMTPUTF8 mail) are read as
UTF-8 where valid, else as Latin-1.
"""

from __future__ import annotations

import email.header

MAX_HEADER_CHARS = 16_384
"""Longest header value decoded; the rest is ignored by the views (kept in raw)."""


def decode_header_value(value: object) -> str:
    """Decode an RFC 2047 header value to text, tolerating any garbage.

    Raw 8-bit header bytes (SMTPUTF8 mail) are read as UTF-8 where they are
    valid, else as Latin-1: ``compat32`` hands them over as surrogates or as
    ``unknown-8bit`` Header objects.
    """
    if value is None:
        return ""
    if isinstance(value, email.header.Header):
        try:
            pieces = email.header.decode_header(value)
        except Exception:  # noqa: BLE001
            return clean_text(str(value))
        return clean_text(_join_pieces(pieces)[:MAX_HEADER_CHARS])
    text = str(value)[:MAX_HEADER_CHARS]
    if "=?" in text:
        try:
            return clean_text(_join_pieces(email.header.decode_header(text)))
        except Exception:  # noqa: BLE001
            pass
    return clean_text(undo_surrogates(text))


def _join_pieces(pieces: list[tuple[bytes | str, str | None]]) -> str:
    """Join the (chunk, charset) pairs of email.header.decode_header into text."""
    out = []
    for chunk, charset in pieces:
        if isinstance(chunk, bytes):
            out.append(decode_bytes(chunk, charset))
        else:
            out.append(undo_surrogates(chunk))
    return "".join(out)


def is_utf8(text: str) -> bool:
    """Tell whether text can be written as UTF-8 (no lone surrogates from undecodable bytes)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def undo_surrogates(text: str) -> str:
    """Turn surrogate-escaped raw bytes back into UTF-8 (or Latin-1) text."""
    if text.isascii() or not any("\udc80" <= ch <= "\udcff" for ch in text):
        return text
    data = text.encode("utf-8", "surrogateescape")
    return decode_bytes(data, "utf-8")


def raw_header_text(value: object) -> str:
    """Return a header value as text without decoding RFC 2047 words.

    ``compat32`` hands over values with 8-bit bytes (SMTPUTF8 mail) as
    ``unknown-8bit`` Header objects whose ``str()`` mangles them; their bytes
    are read as UTF-8 here (Latin-1 where invalid).
    """
    if isinstance(value, email.header.Header):
        try:
            return _join_pieces(email.header.decode_header(value))
        except Exception:  # noqa: BLE001
            return str(value)
    return undo_surrogates(str(value))


def clean_text(text: str) -> str:
    """Unfold a header value and drop surrogates left by undecodable bytes."""
    text = text.replace("\r\n", "").replace("\n", "")
    return text.encode("utf-8", "replace").decode("utf-8", "replace").strip()


def decode_bytes(data: bytes, charset: str | None) -> str:
    """Decode bytes in ``charset``, falling back to UTF-8 then Latin-1."""
    for candidate in (charset, "utf-8"):
        if not candidate:
            continue
        try:
            return data.decode(candidate)
        except (LookupError, UnicodeDecodeError, ValueError):
            continue
    return data.decode("latin-1")


def header_end(raw: bytes) -> int:
    """Return the index of the newline that ends the header block, or -1.

    The block ends at the first empty line (CRLF or bare LF).  The second
    search stops where the first match is, so a large CRLF message is not
    scanned to its end for a bare "\\n\\n" that cannot come first; it may end
    at the CRLF's CR, as in "\\n\\n\\r\\n", where the bare LF is the first empty
    line (the feed parser's; the CRLF then begins the body).
    """
    crlf = raw.find(b"\n\r\n")
    lf = raw.find(b"\n\n", 0, crlf + 1 if crlf >= 0 else len(raw))
    return lf if lf >= 0 else crlf


def split_head_body(raw: bytes) -> tuple[bytes, bytes]:
    """Split a message at the empty line that ends its header block: (head, body).

    The head keeps the newline of its last line; without an empty line the
    whole message is head and the body is empty.
    """
    end = header_end(raw)
    if end < 0:
        return raw, b""
    gap = 3 if raw[end + 1 : end + 3] == b"\r\n" else 2
    return raw[: end + 1], raw[end + gap :]


def header_block(raw: bytes) -> str:
    """Return the raw header block of a message as text (undecoded, for searching)."""
    end = header_end(raw)
    head = raw[: end + 1] if end >= 0 else raw
    return head[: MAX_HEADER_CHARS * 16].decode("utf-8", "replace")


def header_matches(block: str, name: str, value: str) -> bool:
    """Tell whether header ``name`` is in a header block (and contains ``value``, if given).

    ``value`` is lowercased already; decoding happens here, at search time, so
    that ingest does not pay for a search few people run.
    """
    values = header_values(block, name)
    if not value:
        return bool(values)
    return any(value in v.lower() for v in values)


def header_values(block: str, name: str) -> list[str]:
    """Return the decoded values of header ``name`` (case-insensitive) in a header block."""
    wanted = name.lower()
    values: list[str] = []
    current: list[str] | None = None
    for line in block.splitlines():
        if line[:1] in (" ", "\t") and current is not None:
            current.append(line)  # a folded continuation line
            continue
        if current is not None:
            values.append(decode_header_value("".join(current)))
            current = None
        key, colon, rest = line.partition(":")
        if colon and key.strip().lower() == wanted:
            current = [rest.strip()]
    if current is not None:
        values.append(decode_header_value("".join(current)))
    return values
