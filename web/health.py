"""``/livez`` and ``/readyz``: liveness and readiness for orchestrators and healthchecks."""

from __future__ import annotations

from typing import Any

from flask import Blueprint

from mailsink.web.errors import json_error
from mailsink.web.state import app_state

bp = Blueprint("health", __name__)


@bp.get("/livez")
def livez() -> Any:
    """Answer while the process serves HTTP at all."""
    return {"status": "ok"}


@bp.get("/readyz")
def readyz() -> Any:
    """Answer 200 with the message count while the store answers, else 503."""
    store = app_state().mailbox.store
    try:
        count = store.count()
    except Exception as error:  # noqa: BLE001 - any store failure means "not ready"
        return json_error(503, f"store not ready: {error}")
    return {"status": "ok", "messages": count}
