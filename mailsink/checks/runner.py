"""Run a check on a message as received: raw bytes and envelope in, JSON-ready answer out.

These are the only functions the web layer and the pytest fixture call.  Each
takes the :class:`~mailsink.config.Settings` it needs to know whether it may
run and where to connect; none keeps state between calls.
"""

from __future__ import annotations

from typing import Any

from mailsink.checks.auth import AuthReport, check_auth
from mailsink.checks.dns import resolver_for
from mailsink.checks.html_compat import Limits, check_html
from mailsink.checks.links import LinkPolicy, check_links
from mailsink.checks.spam import check_spam
from mailsink.config import Settings
from mailsink.message import Envelope
from mailsink.mime import parse_message


class CheckUnavailableError(Exception):
    """A check that cannot run on this message or with these settings, and why."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def html_check(raw: bytes, limits: Limits | None = None) -> dict[str, Any]:
    """Return Mailpit's HTMLCheckResponse; TooLargeToCheckError past the limits."""
    html = parse_message(raw).html
    if not html:
        raise CheckUnavailableError("message does not contain HTML")
    return check_html(html, limits)


def link_check(raw: bytes, settings: Settings, follow: bool = False) -> dict[str, Any]:
    """Return Mailpit's LinkCheckResponse; refused unless ``--link-check`` is on."""
    if not settings.link_check:
        raise CheckUnavailableError(
            "the link check is off; start mailsink with --link-check to let it request "
            "the links in mail",
            403,
        )
    parsed = parse_message(raw)
    policy = LinkPolicy(allow_private=settings.link_check_allow_private)
    return check_links(parsed.html, parsed.text, follow, policy)


def spam_check(raw: bytes, settings: Settings) -> dict[str, Any]:
    """Return Mailpit's SpamAssassinResponse; refused unless ``--spamassassin`` is set."""
    if not settings.spamassassin:
        raise CheckUnavailableError(
            "the spam check is off; start mailsink with --spamassassin HOST:PORT of a spamd",
            403,
        )
    return check_spam(raw, settings.spamassassin)


def auth_check(raw: bytes, envelope: Envelope, settings: Settings) -> AuthReport:
    """Return the DKIM, ARC, SPF and DMARC verdicts, with DNS as the settings allow."""
    return check_auth(raw, envelope, resolver_for(settings.dns_records, settings.dns))
