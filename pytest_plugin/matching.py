"""Matching keywords (``to=``, ``subject=``, ...) and the failure messages that explain a miss.

Every keyword takes an exact value, a compiled regex (``search``-ed) or a
predicate; the address keywords also take a list, meaning every item must be
among the addresses.  Addresses compare case-insensitively.  Bodies compare
exactly after trimming surrounding whitespace and turning CRLF into LF; use a
regex to match part of a body.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from mailsink.faults import address_matches
from mailsink.pytest_plugin.message import Message

ADDRESS_FIELDS: dict[str, Callable[[Message], list[str]]] = {
    "to": lambda m: m.to,
    "cc": lambda m: m.cc,
    "bcc": lambda m: m.bcc,
    "reply_to": lambda m: m.reply_to,
    "from_": lambda m: [m.from_, m.sender],
    "sender": lambda m: [m.sender],
    "recipient": lambda m: m.recipients,
}
"""Address keywords: a match against any of the listed addresses counts."""

TEXT_FIELDS: dict[str, Callable[[Message], str]] = {
    "subject": lambda m: m.subject,
    "text": lambda m: m.text,
    "html": lambda m: m.html,
    "body": lambda m: m.body,
}

OTHER_FIELDS = ("header", "has_attachment", "attachment", "where")

KEYWORDS = tuple(sorted([*ADDRESS_FIELDS, *TEXT_FIELDS, *OTHER_FIELDS]))


@dataclass(frozen=True, slots=True)
class Mismatch:
    """One criterion a message failed: which field, what was wanted, what it had."""

    field: str
    wanted: str
    got: str

    def __str__(self) -> str:
        return f"{self.field}: expected {self.wanted}, got {self.got}"


def check_criteria(criteria: Mapping[str, Any]) -> None:
    """Reject unknown keywords and wrong value types before waiting on them."""
    for key, value in criteria.items():
        if key not in KEYWORDS:
            raise TypeError(
                f"unknown mailsink match keyword {key!r}; use one of: {', '.join(KEYWORDS)}"
            )
        if key == "has_attachment" and not isinstance(value, bool):
            raise TypeError("has_attachment takes True or False")
        if key == "where" and not callable(value):
            raise TypeError("where takes a predicate: where=lambda message: ...")
        if key == "header" and not isinstance(value, Mapping):
            raise TypeError('header takes a mapping: header={"X-Priority": "1"}')


def describe(value: Any) -> str:
    """Return a short, readable form of a criterion value."""
    if isinstance(value, re.Pattern):
        return f"re.compile({value.pattern!r})"
    if callable(value):
        return f"<predicate {getattr(value, '__name__', type(value).__name__)}>"
    if isinstance(value, (list, tuple, set, frozenset)):
        return "all of [" + ", ".join(describe(v) for v in value) + "]"
    return repr(value)


def describe_criteria(criteria: Mapping[str, Any]) -> str:
    """Return ``to='x', subject=re.compile(...)`` for a failure message."""
    if not criteria:
        return "any message"
    return ", ".join(f"{key}={describe(value)}" for key, value in criteria.items())


def _call(predicate: Callable[[Any], Any], value: Any) -> bool:
    """Call a user's predicate; one that raises (say a KeyError) simply does not match."""
    try:
        return bool(predicate(value))
    except Exception:  # noqa: BLE001 - a predicate may assume fields other messages lack
        return False


def _address_ok(wanted: Any, address: str) -> bool:
    return address_matches(wanted, address)


def _normal(text: str) -> str:
    return text.replace("\r\n", "\n").strip()


def _text_ok(wanted: Any, value: str, exact: Callable[[str], str] = _normal) -> bool:
    if isinstance(wanted, str):
        return exact(value) == exact(wanted)
    if isinstance(wanted, re.Pattern):
        return wanted.search(value) is not None
    return _call(wanted, value)


def _short(text: str, limit: int = 80) -> str:
    text = text.replace("\r\n", "\n")
    return repr(text if len(text) <= limit else text[:limit] + "...")


def _address_misses(key: str, message: Message, wanted: Any) -> list[Mismatch]:
    addresses = [a for a in ADDRESS_FIELDS[key](message) if a or key == "sender"]
    items = list(wanted) if isinstance(wanted, (list, tuple, set, frozenset)) else [wanted]
    if all(any(_address_ok(w, a) for a in addresses) for w in items):
        return []
    return [Mismatch(key, describe(wanted), repr(addresses))]


def _text_misses(key: str, message: Message, wanted: Any) -> list[Mismatch]:
    value = TEXT_FIELDS[key](message)
    return [] if _text_ok(wanted, value) else [Mismatch(key, describe(wanted), _short(value))]


def _header_misses(message: Message, wanted: Mapping[str, Any]) -> list[Mismatch]:
    failed = []
    for name, want in wanted.items():
        values = message.headers.get_all(name)
        if not any(_text_ok(want, v, str.strip) for v in values):
            got = repr(values) if values else "no such header"
            failed.append(Mismatch(f"header {name}", describe(want), got))
    return failed


def _other_misses(key: str, message: Message, wanted: Any) -> list[Mismatch]:
    if key == "header":
        return _header_misses(message, wanted)
    if key == "has_attachment":
        count = len(message.parsed.attachments)
        if bool(count) != wanted:
            return [Mismatch(key, repr(wanted), f"{count} attachment(s)")]
    elif key == "attachment":
        names = [a.filename for a in message.attachments]
        if not any(_text_ok(wanted, name, str.strip) for name in names):
            return [Mismatch(key, describe(wanted), f"attachments {names!r}")]
    elif key == "where" and not _call(wanted, message):
        # A predicate on the checks gets their verdicts and reasons beside its False.
        got = "False" + (f" ({message.auth!r})" if "auth" in vars(message) else "")
        return [Mismatch(key, describe(wanted), got)]
    return []


def mismatches(message: Message, criteria: Mapping[str, Any]) -> list[Mismatch]:
    """Return the criteria a message fails (empty when it matches)."""
    failed: list[Mismatch] = []
    for key, wanted in criteria.items():
        if key in ADDRESS_FIELDS:
            failed += _address_misses(key, message, wanted)
        elif key in TEXT_FIELDS:
            failed += _text_misses(key, message, wanted)
        else:
            failed += _other_misses(key, message, wanted)
    return failed


def select(messages: Iterable[Message], criteria: Mapping[str, Any]) -> list[Message]:
    """Return the messages that match every criterion, in order."""
    return [m for m in messages if not mismatches(m, criteria)]


def listing_line(index: int, message: Message) -> str:
    """Return one line of the captured-mail listing: time, envelope, subject."""
    when = datetime.datetime.fromtimestamp(message.received_at).strftime("%H:%M:%S.%f")[:-3]
    rcpts = ", ".join(message.recipients) or "(none)"
    sender = message.sender or "<>"
    return f"  {index}. {when}  {sender} -> {rcpts}  subject {message.subject!r}  [{message.id}]"


def explain(
    headline: str,
    messages: list[Message],
    criteria: Mapping[str, Any],
    ui_url: str | None = None,
    hint: str = "",
    candidates: int = 3,
) -> str:
    """Return a failure message: the headline, every captured message, the closest misses."""
    lines = [headline]
    if not messages:
        lines.append("this test captured no mail at all")
    else:
        lines.append(f"this test captured {len(messages)} message(s):")
        lines.extend(listing_line(i, m) for i, m in enumerate(messages, 1))
        if criteria:
            scored = [(mismatches(m, criteria), i, m) for i, m in enumerate(messages, 1)]
            misses = [s for s in scored if s[0]]
            if misses:
                best = min(len(s[0]) for s in misses)
                closest = [s for s in misses if len(s[0]) == best][:candidates]
                lines.append("closest candidates:")
                for failed, index, message in closest:
                    lines.append(f"  {index}. {message.subject!r}:")
                    lines.extend(f"       {miss}" for miss in failed)
    if hint:
        lines.append(hint)
    if ui_url:
        lines.append(f"web UI: {ui_url}")
    return "\n".join(lines)
