"""Release a stored message to the configured upstream: Mailpit's and MailHog's routes.

* ``POST /api/v1/message/{ID}/release`` with ``{"To": [...]}`` (Mailpit):
  ``200 ok`` once the upstream accepted it; ``202`` with the upstream's reply
  when it was deferred (4xx, or the upstream is down) and will be retried;
  ``400`` with the reason when it was refused (allowlist, no recipients, a
  5xx from the upstream).
* ``POST /api/v1/messages/{ID}/release`` (MailHog) with ``{"Email": ...}``:
  the same release to one address.  MailHog lets the caller name any host;
  here mail goes only to the configured upstream, so ``Host``/``Port``, when
  given, must name it (400 otherwise) and ``Username``/``Password`` are ignored.

Without ``--relay`` both answer 400.  Bodies must be ``application/json``, so
a hostile web page cannot release mail to its own address cross-origin.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response

from mailsink.relay.relayer import Relayer, RelayRefusedError
from mailsink.store.relays import RelayJob
from mailsink.web.errors import ApiError
from mailsink.web.faults_api import require_json_body
from mailsink.web.params import get_message, json_body, string_list
from mailsink.web.serialize import rfc3339
from mailsink.web.state import app_state

bp = Blueprint("api_relay", __name__)


def relayer() -> Relayer:
    """Return the sink's relayer, or refuse: relay is not configured."""
    found = app_state().relayer
    if found is None:
        raise ApiError("message relay is not configured (start mailsink with --relay URL)")
    return found


def _release(message_id: str, to: list[str]) -> RelayJob:
    message = get_message(message_id)
    try:
        return relayer().release(message.id, to)
    except RelayRefusedError as error:
        raise ApiError(f"Failed: {error}") from None


def _answer(job: RelayJob) -> Response:
    last = job.attempts[-1] if job.attempts else None
    if job.state == "sent" or last is None:
        return Response("ok", 200, mimetype="text/plain")
    if job.state == "failed":
        raise ApiError(f"SMTP error: {last.reply}")
    return Response(f"deferred, will retry: {last.reply}", 202, mimetype="text/plain")


@bp.post("/api/v1/message/<message_id>/release")
def release(message_id: str) -> Response:
    """Release a message to the recipients given (Mailpit's route and shape)."""
    require_json_body()
    to = string_list(json_body(required=True), "To", "To") or []
    return _answer(_release(message_id, to))


@bp.post("/api/v1/messages/<message_id>/release")
def mailhog_release(message_id: str) -> Response:
    """Release a message to one address (MailHog's route and shape)."""
    require_json_body()
    body = json_body(required=True)
    email = body.get("email")
    if not isinstance(email, str) or not email.strip():
        raise ApiError("Email must be the address to release to")
    upstream = relayer().settings.upstream
    host, port = body.get("host"), body.get("port")
    if host not in (None, "") and (
        str(host).lower() != upstream.host.lower()
        or (port not in (None, "") and str(port) != str(upstream.port))
    ):
        raise ApiError(
            f"release goes only to the configured relay ({upstream.address}); "
            "leave Host and Port out or name that server"
        )
    return _answer(_release(message_id, [email]))


def relayed_json(jobs: list[RelayJob]) -> list[dict[str, Any]]:
    """Return every attempt of a message's relay jobs, oldest first (``Relayed`` field)."""
    attempts = sorted((a for job in jobs for a in job.attempts), key=lambda a: a.at)
    return [
        {"At": rfc3339(a.at), "To": list(a.to), "Result": a.result, "Reply": a.reply}
        for a in attempts
    ]
