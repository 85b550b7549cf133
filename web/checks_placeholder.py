"""Mailpit's content checks until they land: html-check, link-check and sa-check answer 400.

The checks themselves are their own piece of work (``web/checks_api.py`` on
the checks branch replaces this module and its line in ``create_app``).
Until then the three operations answer a clear 400 ``{"Error": ...}``
(Mailpit's answer for a check it has not enabled) - never a 404, which a
client would read as "no such message", and never a 5xx.
"""

from __future__ import annotations

from flask import Blueprint, Response, request

from mailsink.web.errors import ApiError
from mailsink.web.params import get_message

bp = Blueprint("api_checks_placeholder", __name__)

CHECKS = {"html-check": "HTML check", "link-check": "link check", "sa-check": "SpamAssassin check"}


@bp.get("/api/v1/message/<message_id>/html-check")
@bp.get("/api/v1/message/<message_id>/link-check")
@bp.get("/api/v1/message/<message_id>/sa-check")
def not_yet(message_id: str) -> Response:
    """Refuse with 400, as Mailpit does for a check it has not enabled (404: no message)."""
    get_message(message_id)
    name = CHECKS[request.path.rsplit("/", 1)[-1]]
    raise ApiError(f"the {name} is not available in this version of mailsink", 400)
