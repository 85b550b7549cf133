"""HTTP basic auth for the UI, the API and the event stream (``--ui-auth``, ``--ui-auth-file``).

Every request needs a valid ``Authorization: Basic`` header except
``/livez`` and ``/readyz`` (orchestrators' probes carry no credentials) and
CORS preflights (browsers send those without credentials; they change
nothing).  A missing or wrong one gets 401 with ``WWW-Authenticate``, which
makes a browser ask for a login; the check itself (constant-time, bcrypt for
htpasswd hashes) is :class:`mailsink.credentials.Credentials`.  Neither the
header nor the password is ever logged.
"""

from __future__ import annotations

from flask import Flask, Response, request

from mailsink.credentials import REALM, Credentials
from mailsink.web.errors import json_error

OPEN_PATHS = frozenset({"/livez", "/readyz"})


def require_login(app: Flask, credentials: Credentials) -> None:
    """Refuse every request without valid credentials, except the open paths."""

    @app.before_request
    def check_login() -> Response | None:
        if request.path in OPEN_PATHS or request.method == "OPTIONS":
            return None
        if credentials.check(request.headers.get("Authorization")) is not None:
            return None
        response = json_error(401, "login required")
        response.headers["WWW-Authenticate"] = f'Basic realm="{REALM}", charset="UTF-8"'
        return response
