"""Mailpit's paths that users and tools hit, answered by mailsink's own pages.

``/api/v1/swagger.json`` is where Mailpit serves its API document: tools
pointed there get mailsink's OpenAPI document.  ``/view/{ID}`` and
``/view/latest`` are Mailpit's deep links into its UI: they redirect to
mailsink's page for that message (``/view/{ID}.html`` and ``.txt`` are the
sandboxed views, routed in ``view.py``).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, redirect, url_for
from werkzeug.wrappers import Response

from mailsink.web.openapi import openapi
from mailsink.web.params import get_message, mailbox

bp = Blueprint("aliases", __name__)


@bp.get("/api/v1/swagger.json")
def swagger() -> Any:
    """Serve the OpenAPI document at Mailpit's path for it."""
    return openapi()


@bp.get("/view/<message_id>")
def view_message(message_id: str) -> Response:
    """Redirect Mailpit's UI link for a message (or ``latest``) to mailsink's message page."""
    if message_id == "latest" and not mailbox().store.count():
        return redirect(url_for("ui.index"))
    message = get_message(message_id)
    return redirect(url_for("ui.message_page", message_id=message.id))
