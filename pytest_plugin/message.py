"""The message object a test receives: headers, bodies, envelope, attachments and helpers.

It is built from the raw bytes and the envelope, in-process or over the HTTP
API alike, so both modes give the same view.  The summary (addresses,
subject) is parsed at once; the MIME tree, bodies and the stdlib
``EmailMessage`` are parsed on first use.
"""

from __future__ import annotations

import datetime
import email
import email.policy
import html as html_lib
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from email.message import EmailMessage
from functools import cached_property
from typing import Any, Union

from mailsink.config import Settings
from mailsink.message import Envelope, Summary
from mailsink.mime import ParsedMessage, html_to_text, parse_message
from mailsink.pytest_plugin.checks import AuthVerdicts, html_check_failure

TextMatch = Union[str, "re.Pattern[str]", Callable[[str], bool]]

_HREF_RE = re.compile(r"""\b(?:href|src)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))""", re.I)
_URL_RE = re.compile(r"""\bhttps?://[^\s<>"'()\[\]]+""", re.I)
_TRAILING = ".,;:!?"


@dataclass(frozen=True, slots=True)
class Attachment:
    """One attachment: its file name, content type and decoded bytes."""

    filename: str
    content_type: str
    content: bytes

    @property
    def size(self) -> int:
        """Return the decoded size in bytes."""
        return len(self.content)


class Headers(Mapping[str, str]):
    """Header values by case-insensitive name (the first value; all via ``get_all``)."""

    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        self._pairs = pairs

    def __getitem__(self, name: str) -> str:
        wanted = name.lower()
        for key, value in self._pairs:
            if key.lower() == wanted:
                return value
        raise KeyError(name)

    def __iter__(self) -> Iterator[str]:
        seen: set[str] = set()
        for key, _ in self._pairs:
            if key.lower() not in seen:
                seen.add(key.lower())
                yield key

    def __len__(self) -> int:
        return len({key.lower() for key, _ in self._pairs})

    def get_all(self, name: str) -> list[str]:
        """Return every value of a header, in order."""
        wanted = name.lower()
        return [value for key, value in self._pairs if key.lower() == wanted]


class Message:
    """One captured message, as a test sees it."""

    def __init__(
        self,
        message_id: str,
        received: float,
        envelope: Envelope,
        summary: Summary,
        raw: Callable[[], bytes] | bytes,
        url: str | None = None,
        checks: Settings | None = None,
    ) -> None:
        self.id = message_id
        self.received_at = received
        self.envelope = envelope
        self.summary = summary
        self._raw = raw
        self.url = url
        """This message in the web UI, when a web server runs."""
        self._checks = checks or Settings(dns=False)

    def __repr__(self) -> str:
        return f"<Message {self.id} from {self.from_!r} to {self.to!r} subject {self.subject!r}>"

    @property
    def received(self) -> datetime.datetime:
        """Return when the sink stored the message (UTC)."""
        return datetime.datetime.fromtimestamp(self.received_at, datetime.timezone.utc)

    @cached_property
    def raw(self) -> bytes:
        """Return the exact bytes the client sent in DATA."""
        return self._raw if isinstance(self._raw, bytes) else self._raw()

    @cached_property
    def parsed(self) -> ParsedMessage:
        """Return mailsink's parsed view (headers, bodies, parts)."""
        return parse_message(self.raw)

    @cached_property
    def email(self) -> EmailMessage:
        """Return the stdlib ``EmailMessage`` (``email.policy.default``)."""
        parsed = email.message_from_bytes(self.raw, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed

    # -- addresses: plain addresses; display names are in ``summary``
    @property
    def subject(self) -> str:
        """Return the decoded Subject."""
        return self.summary.subject

    @property
    def from_(self) -> str:
        """Return the From header's address ('' when there is none)."""
        return self.summary.from_.address if self.summary.from_ else ""

    @property
    def to(self) -> list[str]:
        """Return the To header's addresses."""
        return [a.address for a in self.summary.to]

    @property
    def cc(self) -> list[str]:
        """Return the Cc header's addresses."""
        return [a.address for a in self.summary.cc]

    @property
    def bcc(self) -> list[str]:
        """Return the Bcc recipients: a Bcc header, else envelope recipients not in To/Cc."""
        return [a.address for a in self.summary.bcc]

    @property
    def reply_to(self) -> list[str]:
        """Return the Reply-To header's addresses."""
        return [a.address for a in self.summary.reply_to]

    @property
    def sender(self) -> str:
        """Return the envelope sender (MAIL FROM; '' for the null sender)."""
        return self.envelope.mail_from

    @property
    def recipients(self) -> list[str]:
        """Return the envelope recipients (every RCPT TO)."""
        return list(self.envelope.rcpt_tos)

    # -- bodies and parts
    @property
    def headers(self) -> Headers:
        """Return the decoded headers by case-insensitive name."""
        return Headers(self.parsed.headers)

    @property
    def text(self) -> str:
        """Return the text/plain body ('' when there is none)."""
        return self.parsed.text

    @property
    def html(self) -> str:
        """Return the text/html body ('' when there is none)."""
        return self.parsed.html

    @property
    def body(self) -> str:
        """Return the text body, or the visible text of the HTML body when there is none."""
        return self.text or html_to_text(self.html)

    @property
    def attachments(self) -> list[Attachment]:
        """Return the attachments (inline images excluded)."""
        return [Attachment(p.filename, p.content_type, p.payload) for p in self.parsed.attachments]

    # -- content checks (mailsink.checks)
    @cached_property
    def auth(self) -> AuthVerdicts:
        """Return the DKIM, SPF, DMARC and ARC verdicts: ``message.auth.dkim == "pass"``."""
        from mailsink.checks import auth_check

        return AuthVerdicts(auth_check(self.raw, self.envelope, self._checks))

    def html_check(self, min_score: float | None = None) -> dict[str, Any]:
        """Return Mailpit's HTML check of the HTML body; fail under ``min_score`` % supported."""
        from mailsink.checks import CheckUnavailableError, TooLargeToCheckError, html_check

        try:
            result = html_check(self.raw)
        except (CheckUnavailableError, TooLargeToCheckError) as error:
            raise AssertionError(f"HTML check of message {self.id}: {error}") from None
        if min_score is not None:
            failure = html_check_failure(result, min_score, f"message {self.id} ({self.subject!r})")
            if failure:
                raise AssertionError(failure)
        return result

    # -- helpers
    def links(self) -> list[str]:
        """Return the distinct http(s) links of the HTML and text bodies, in order."""
        found: list[str] = []
        for match in _HREF_RE.finditer(self.html):
            value = html_lib.unescape(next(g for g in match.groups() if g is not None)).strip()
            if value.lower().startswith(("http://", "https://")):
                found.append(value)
        for source in (self.text, html_lib.unescape(self.html)):
            found.extend(m.group(0).rstrip(_TRAILING) for m in _URL_RE.finditer(source))
        return list(dict.fromkeys(found))

    def link(self, matching: TextMatch | None = None) -> str:
        """Return the one link containing ``matching`` (a substring, regex or predicate)."""
        links = self.links()
        chosen = [url for url in links if matching is None or _finds(matching, url)]
        if len(chosen) == 1:
            return chosen[0]
        wanted = "" if matching is None else f" matching {_describe(matching)}"
        listing = "".join(f"\n  {url}" for url in links) or " (none)"
        raise AssertionError(
            f"expected exactly one link{wanted} in message {self.id} "
            f"({self.subject!r}), found {len(chosen)}; its links:{listing}"
        )

    def extract(self, pattern: str | re.Pattern[str]) -> str:
        """Return the first match of ``pattern`` in the body (group 1 if it has groups)."""
        regex = re.compile(pattern) if isinstance(pattern, str) else pattern
        for source in (self.text, html_to_text(self.html)):
            found = regex.search(source)
            if found:
                return found.group(1) if regex.groups else found.group(0)
        raise AssertionError(
            f"no match for {regex.pattern!r} in message {self.id} ({self.subject!r}); "
            f"body starts: {self.body[:200]!r}"
        )

    def code(self, digits: int = 6) -> str:
        """Return the one-time code: the only ``digits``-digit number in the body."""
        regex = re.compile(rf"(?<!\w)(\d{{{digits}}})(?!\w)")
        codes: list[str] = []
        for source in (self.subject, self.text or html_to_text(self.html)):
            codes.extend(regex.findall(source))
        distinct = list(dict.fromkeys(codes))
        if len(distinct) == 1:
            return distinct[0]
        problem = "no" if not distinct else f"{len(distinct)} different ({', '.join(distinct)})"
        raise AssertionError(
            f"expected one {digits}-digit code in message {self.id} ({self.subject!r}), "
            f"found {problem}"
        )


def _finds(matching: TextMatch, value: str) -> bool:
    """Tell whether a link filter accepts a value (a str is a substring here)."""
    if isinstance(matching, str):
        return matching in value
    if isinstance(matching, re.Pattern):
        return matching.search(value) is not None
    return bool(matching(value))


def _describe(matching: TextMatch) -> str:
    if isinstance(matching, re.Pattern):
        return f"re.compile({matching.pattern!r})"
    if isinstance(matching, str):
        return repr(matching)
    return getattr(matching, "__name__", "a predicate")
