"""The Flask application factory and the rules every response follows.

``create_app`` receives its dependencies (the mailbox, the settings, the
ingestor) instead of reading globals, so tests build apps side by side.

Every request passes the Host check (DNS rebinding: a hostile web page that
resolves its own name to 127.0.0.1 must not read the mailbox) and a body size
cap; every response carries ``X-Content-Type-Options: nosniff``; every error
is JSON with a 4xx/5xx code, never an HTML traceback.
"""

from __future__ import annotations

import ipaddress
import socket
from typing import Any

from flask import Flask, Response, request
from werkzeug.exceptions import HTTPException

from mailsink.config import Settings
from mailsink.ingest import Ingestor
from mailsink.mailbox import Mailbox
from mailsink.web.api import bp as api_blueprint
from mailsink.web.errors import ApiError, json_error
from mailsink.web.ui import bp as ui_blueprint

WILDCARD_HOSTS = ("0.0.0.0", "::", "")


def allowed_host_names(settings: Settings) -> frozenset[str] | None:
    """Return the Host names to accept, or None to accept any (wildcard bind, no list)."""
    names = {name.lower() for name in settings.allowed_hosts}
    if settings.http_host in WILDCARD_HOSTS and not names:
        return None
    names.update({"localhost", settings.http_host.lower(), socket.gethostname().lower()})
    return frozenset(names)


def host_is_allowed(host_header: str, allowed: frozenset[str] | None) -> bool:
    """Tell whether a Host header names this server (IP literals always do)."""
    if allowed is None:
        return True
    host = host_header.strip().lower()
    if host.startswith("["):
        host = host[1:].partition("]")[0]
    elif host.count(":") == 1:
        host = host.partition(":")[0]
    host = host.rstrip(".")
    if not host:
        return False
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        pass
    return host in allowed or any(
        name.startswith("*.") and host.endswith(name[1:]) for name in allowed
    )


def create_app(
    mailbox: Mailbox,
    settings: Settings | None = None,
    *,
    ingestor: Ingestor | None = None,
    smtp_address: tuple[str, int] | None = None,
) -> Flask:
    """Create the web application over a mailbox."""
    settings = settings or Settings()
    app = Flask(__name__)
    app.config.update(
        MAX_CONTENT_LENGTH=settings.max_request_bytes,
        JSON_SORT_KEYS=False,
        MAILSINK_SETTINGS=settings,
        MAILSINK_SMTP_ADDRESS=smtp_address or (settings.smtp_host, settings.smtp_port),
    )
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.extensions["mailsink"] = {
        "mailbox": mailbox,
        "ingestor": ingestor or Ingestor(mailbox),
        "settings": settings,
    }
    allowed = allowed_host_names(settings)

    @app.before_request
    def check_host() -> Response | None:
        if not host_is_allowed(request.headers.get("Host", ""), allowed):
            return json_error(
                400,
                "Host header not allowed; add the name with --allowed-hosts "
                "(protection against DNS rebinding)",
            )
        return None

    @app.after_request
    def common_headers(response: Response) -> Response:
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response

    @app.errorhandler(ApiError)
    def api_error(error: ApiError) -> Response:
        return json_error(error.status, error.message)

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> Response:
        return json_error(error.code or 500, error.description or error.name)

    @app.errorhandler(Exception)
    def internal_error(error: Exception) -> Response:
        app.logger.exception("unhandled error")
        return json_error(500, f"internal error: {type(error).__name__}")

    @app.get("/livez")
    def livez() -> Any:
        return {"status": "ok"}

    @app.get("/readyz")
    def readyz() -> Any:
        try:
            mailbox.store.count()
        except Exception as error:  # noqa: BLE001
            return json_error(503, f"store not ready: {error}")
        return {"status": "ok", "messages": mailbox.store.count()}

    app.register_blueprint(api_blueprint)
    app.register_blueprint(ui_blueprint)
    return app
