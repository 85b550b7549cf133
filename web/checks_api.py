"""The content checks over the API: Mailpit's html-check, link-check, sa-check; our auth-check.

Each route reads the message as received (raw bytes and envelope) and calls
one function of :mod:`mailsink.checks`; what a check cannot do becomes a 4xx
with the reason (no HTML: 400; link or spam check off: 403; HTML too large
to check: 422), never a 5xx.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response

from mailsink.checks import (
    CheckUnavailableError,
    DnsRecordsError,
    TooLargeToCheckError,
    auth_check,
    html_check,
    link_check,
    spam_check,
)
from mailsink.store.base import StoredMessage
from mailsink.web.errors import ApiError, json_error
from mailsink.web.params import bool_arg, get_message, mailbox
from mailsink.web.state import app_state

bp = Blueprint("api_checks", __name__)


@bp.errorhandler(CheckUnavailableError)
def check_unavailable(error: CheckUnavailableError) -> Response:
    """Answer a check that cannot run here (no HTML, check off) with its 4xx and reason."""
    return json_error(error.status, str(error))


@bp.errorhandler(TooLargeToCheckError)
def too_large(error: TooLargeToCheckError) -> Response:
    """Answer HTML beyond the check's limits with 422 "too large to check"."""
    return json_error(422, str(error))


def _message_and_raw(message_id: str) -> tuple[StoredMessage, bytes]:
    """Return the stored message and its raw bytes, 404 when either is gone."""
    message = get_message(message_id)
    raw = mailbox().store.raw(message.id)
    if raw is None:
        raise ApiError(f"message {message.id!r} not found", 404)
    return message, raw


@bp.get("/api/v1/message/<message_id>/html-check")
def get_html_check(message_id: str) -> Any:
    """Return Mailpit's HTMLCheckResponse: the HTML/CSS features email clients lack."""
    _message, raw = _message_and_raw(message_id)
    return html_check(raw)


@bp.get("/api/v1/message/<message_id>/link-check")
def get_link_check(message_id: str) -> Any:
    """Return Mailpit's LinkCheckResponse (only with ``--link-check``); ``?follow=1`` redirects."""
    _message, raw = _message_and_raw(message_id)
    return link_check(raw, app_state().settings, follow=bool_arg("follow"))


@bp.get("/api/v1/message/<message_id>/sa-check")
def get_spam_check(message_id: str) -> Any:
    """Return Mailpit's SpamAssassinResponse from spamd (only with ``--spamassassin``)."""
    _message, raw = _message_and_raw(message_id)
    return spam_check(raw, app_state().settings)


@bp.get("/api/v1/message/<message_id>/auth-check")
def get_auth_check(message_id: str) -> Any:
    """Return the DKIM, ARC, SPF and DMARC verdicts (mailsink), RFC 8601 result names."""
    message, raw = _message_and_raw(message_id)
    try:
        return auth_check(raw, message.envelope, app_state().settings).to_json()
    except DnsRecordsError as error:
        raise ApiError(f"the --dns-records file cannot be read: {error}", 503) from None
