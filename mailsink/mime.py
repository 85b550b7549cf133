"""The full MIME view of a message, parsed when it is opened.

:func:`parse_message` returns the headers, the text and HTML bodies, the
attachments and inline parts (by PartID, Mailpit's dotted positions such as
``1.2``) and the structure tree.  It never raises: a message that cannot be
parsed still yields a view of what could be read.  Walking the tree is
iterative and bounded (:data:`MAX_PARTS`), so deep nesting costs nothing.

The parse is bounded too: the standard library splits a header's
parameters in quadratic time (a 229 KB Content-Type of 24,000 parameters
took 2.4 s), so the parser's message class shows it at most
:data:`MAX_PARAMS` parameters of a Content-Type or Content-Disposition
(and :data:`~mailsink.headers.MAX_HEADER_CHARS` characters), and reads at
most :data:`MAX_HEADER_LINES` lines of the message's header block (20,000
header lines took 0.15 s).  The raw bytes are untouched and the raw view
shows them all; only what the parse reads of them is cut.
"""

from __future__ import annotations

import email.utils
import html
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import Message as Compat32Message
from email.parser import BytesParser
from email.policy import compat32
from typing import cast

from mailsink.headers import (
    MAX_HEADER_CHARS,
    decode_bytes,
    decode_header_value,
    header_end,
    split_head_body,
)

MAX_PARTS = 1_000
"""Most MIME parts walked in one message."""

MAX_TEXT_CHARS = 256 * 1024
"""Longest body text kept for search at ingest."""

MAX_PARAMS = 100
"""Most parameters of a Content-Type or Content-Disposition header that the parse reads."""

MAX_HEADER_LINES = 1_000
"""Most lines of the top-level header block that the parse reads."""

_PARAM_HEADERS = frozenset({"content-type", "content-disposition"})


def bound_params(value: str) -> str:
    """Return a parameterised header value cut to MAX_PARAMS parameters and MAX_HEADER_CHARS."""
    value = value[:MAX_HEADER_CHARS]
    position = -1
    for _ in range(MAX_PARAMS + 1):
        position = value.find(";", position + 1)
        if position < 0:
            return value
    return value[:position]


class BoundedMessage(Compat32Message):
    """compat32's Message whose parameterised headers read bounded (module docstring)."""

    def get(self, name: str, failobj: object = None) -> object:  # type: ignore[override]
        """Return a header value; Content-Type and -Disposition cut by :func:`bound_params`."""
        value = super().get(name, failobj)
        if isinstance(value, str) and name.lower() in _PARAM_HEADERS:
            return bound_params(value)
        return value


@dataclass(slots=True)
class Part:
    """One leaf of the MIME tree (a body, an attachment or an inline part)."""

    part_id: str
    content_type: str
    filename: str
    content_id: str
    disposition: str
    charset: str
    payload: bytes

    @property
    def size(self) -> int:
        """Return the decoded size in bytes."""
        return len(self.payload)


@dataclass(slots=True)
class TreeNode:
    """A node of the MIME structure, for showing the part tree."""

    part_id: str
    content_type: str
    filename: str
    size: int
    children: list[TreeNode] = field(default_factory=list)


@dataclass(slots=True)
class ParsedMessage:
    """The full view of a message: headers, bodies, parts and structure."""

    headers: list[tuple[str, str]]
    text: str
    html: str
    attachments: list[Part]
    inline: list[Part]
    parts: dict[str, Part]
    tree: TreeNode
    defects: list[str]

    def header(self, name: str) -> str:
        """Return the first value of header ``name`` (case-insensitive), or ''."""
        wanted = name.lower()
        for key, value in self.headers:
            if key.lower() == wanted:
                return value
        return ""


_parser = BytesParser(BoundedMessage, policy=compat32)
_header_parser = BytesParser(BoundedMessage, policy=compat32)


def parse_bytes(raw: bytes) -> Compat32Message | None:
    """Parse raw bytes with compat32, or return None if even that fails.

    A message that is not multipart has its headers parsed and its body set
    as one string: the feed parser would otherwise walk the body line by line
    in Python, which is most of the cost of a large single-part message.
    """
    try:
        raw = _bounded_head(raw)
        fast = _parse_single_part(raw)
        return fast if fast is not None else _parser.parsebytes(raw)
    except (RecursionError, Exception):  # noqa: BLE001 - hostile input must never raise
        return None


def _bounded_head(raw: bytes) -> bytes:
    """Return raw with its header block cut to MAX_HEADER_LINES lines (a copy only if cut)."""
    end = header_end(raw)
    if end < 0 or raw.count(b"\n", 0, end) <= MAX_HEADER_LINES:
        return raw
    cut = -1
    for _ in range(MAX_HEADER_LINES):
        cut = raw.find(b"\n", cut + 1, end)
    return raw[: cut + 1] + raw[end + 1 :]


def _parse_single_part(raw: bytes) -> Compat32Message | None:
    """Parse a non-multipart message without splitting its body; None when unsure."""
    head = _parse_head(raw)
    if head is None or head[0].get_content_maintype() in ("multipart", "message"):
        return None
    msg, body_start = head
    msg.set_payload(raw[body_start:].decode("ascii", "surrogateescape"))
    return msg


def _parse_head(raw: bytes) -> tuple[Compat32Message, int] | None:
    """Parse only the header block: (headers, where the body starts), None when unsure."""
    end = header_end(raw)
    if end < 0 or raw[:1] in (b"\r", b"\n"):
        return None
    body_start = end + (3 if raw[end + 1 : end + 2] == b"\r" else 2)
    msg = _header_parser.parsebytes(raw[: end + 1], headersonly=True)
    if msg.defects:
        return None
    return msg, body_start


def walk_parts(
    msg: Compat32Message,
) -> Iterator[tuple[str, Compat32Message, list[Compat32Message] | None]]:
    """Yield (part_id, part, children) depth first, at most MAX_PARTS parts, without recursion.

    ``children`` is the list of a multipart's parts, None for a leaf; part IDs
    are Mailpit's (``1``, ``1.2``, ...; the root is ``""``).
    """
    stack: list[tuple[str, Compat32Message]] = [("", msg)]
    seen = 0
    while stack and seen < MAX_PARTS:
        part_id, part = stack.pop()
        seen += 1
        # A multipart's payload is its list of parts (typeshed allows str items too).  A
        # leaf's is not read: an outline leaf (outline.py) would decode its body for it.
        payload = part.get_payload() if part.is_multipart() else None
        children = cast(list[Compat32Message], payload) if isinstance(payload, list) else None
        yield part_id, part, children
        if children is not None:
            numbered = [(child_part_id(part_id, i), c) for i, c in enumerate(children, 1)]
            stack.extend(reversed(numbered))


def child_part_id(parent_id: str, index: int) -> str:
    """Return the ID of a multipart's ``index``-th part (1-based)."""
    return f"{parent_id}.{index}" if parent_id else str(index)


def walk_leaves(msg: Compat32Message) -> list[tuple[str, Compat32Message]]:
    """Return (part_id, part) for each non-multipart leaf."""
    return [(pid or "1", part) for pid, part, children in walk_parts(msg) if children is None]


def classify(part: Compat32Message) -> str:
    """Return 'text', 'html', 'attachment' or 'inline' for a leaf part."""
    ctype = part.get_content_type()
    disposition = str(part.get("Content-Disposition", "")).split(";")[0].strip().lower()
    filename = _filename(part)
    if disposition == "attachment" or (filename and disposition != "inline"):
        return "attachment"
    if ctype == "text/plain" or part.get_content_maintype() == "multipart":
        # A multipart leaf is one whose boundary never appeared: show its body as text.
        return "text"
    if ctype == "text/html":
        return "html"
    if ctype == "message/rfc822":
        return "attachment"
    if disposition == "inline" or part.get("Content-ID"):
        return "inline"
    return "attachment"


BIDI_CONTROLS = re.compile("[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
"""Characters that reorder text: ``invoice\u202egpj.exe`` shows as ``invoiceexe.jpg``."""


def neutral_filename(name: str) -> str:
    """Return a filename with each bidi control shown as U+FFFD, so it reads as it is."""
    return BIDI_CONTROLS.sub("\ufffd", name)


def _filename(part: Compat32Message) -> str:
    """Return the part's decoded filename (bidi controls neutralised), or ''."""
    try:
        name = part.get_filename() or part.get_param("name") or ""
    except Exception:  # noqa: BLE001
        return ""
    if isinstance(name, tuple):  # RFC 2231 triple
        name = email.utils.collapse_rfc2231_value(name)
    return neutral_filename(decode_header_value(name))


def _payload_bytes(part: Compat32Message) -> bytes:
    """Return a leaf's payload with its transfer encoding undone."""
    try:
        data = part.get_payload(decode=True)
    except Exception:  # noqa: BLE001
        data = None
    if isinstance(data, bytes):
        return data
    payload = part.get_payload()
    if isinstance(payload, list):  # message/rfc822 and friends
        return b"".join(p.as_bytes() for p in payload if isinstance(p, Compat32Message))
    if isinstance(payload, str):
        return payload.encode("utf-8", "surrogateescape")
    return b""


def part_text(part: Compat32Message) -> str:
    """Return a text part's body decoded with its declared charset."""
    charset = part.get_content_charset() or "utf-8"
    return decode_bytes(_payload_bytes(part), charset)


_TAG_RE = re.compile(r"<[^>]*>")
_DROP_RE = re.compile(r"<(script|style|head)\b.*?</\1\s*>", re.IGNORECASE | re.DOTALL)


def html_to_text(markup: str) -> str:
    """Return the visible text of HTML, roughly, for snippets and search."""
    if not markup:
        return ""
    markup = _DROP_RE.sub(" ", markup[: MAX_TEXT_CHARS * 4])
    return html.unescape(_TAG_RE.sub(" ", markup))


def parse_message(raw: bytes) -> ParsedMessage:
    """Parse the whole MIME tree of a message, never raising."""
    msg = parse_bytes(raw)
    if msg is None:
        _head, body = split_head_body(raw)
        text = body.decode("utf-8", "replace")
        root = TreeNode("1", "text/plain", "", len(body))
        return ParsedMessage([], text, "", [], [], {}, root, ["unparseable"])
    headers = [(str(k), decode_header_value(v)) for k, v in msg.items()]
    text = html_body = ""
    attachments: list[Part] = []
    inline: list[Part] = []
    parts: dict[str, Part] = {}
    for part_id, leaf in walk_leaves(msg):
        kind = classify(leaf)
        payload = _payload_bytes(leaf)
        part = Part(
            part_id=part_id,
            content_type=leaf.get_content_type(),
            filename=_filename(leaf),
            content_id=decode_header_value(leaf.get("Content-ID", "")).strip("<>"),
            disposition=kind if kind in ("attachment", "inline") else "",
            charset=leaf.get_content_charset() or "",
            payload=payload,
        )
        parts[part_id] = part
        if kind == "attachment":
            attachments.append(part)
        elif kind == "inline":
            inline.append(part)
        elif kind == "text" and not text:
            text = decode_bytes(payload, part.charset or "utf-8")
        elif kind == "html" and not html_body:
            html_body = decode_bytes(payload, part.charset or "utf-8")
    defects = [type(d).__name__ for d in getattr(msg, "defects", [])]
    return ParsedMessage(
        headers, text, html_body, attachments, inline, parts, _tree(msg, parts), defects
    )


def _tree(msg: Compat32Message, parts: dict[str, Part]) -> TreeNode:
    """Build the MIME structure tree, bounded as :func:`walk_parts` is."""
    root = TreeNode("", msg.get_content_type(), "", 0)
    nodes = {"": root}
    for part_id, _part, children in walk_parts(msg):
        node = nodes[part_id]
        if children is not None:
            for i, child in enumerate(children, 1):
                child_node = TreeNode(child_part_id(part_id, i), child.get_content_type(), "", 0)
                node.children.append(child_node)
                nodes[child_node.part_id] = child_node
        else:
            leaf = parts.get(part_id or "1")
            if leaf is not None:
                node.filename = leaf.filename
                node.size = leaf.size
    return root
