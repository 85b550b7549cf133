"""The Flask application factory and the rules every response follows.

``create_app`` receives its dependencies (the mailbox, the settings, the
ingestor) instead of reading globals, so tests build apps side by side; it
keeps them in one typed :class:`~mailsink.web.state.AppState`, and it
registers every blueprint, so it is the table of contents of the web layer.

Every request passes the Host check (DNS rebinding: a hostile web page that
resolves its own name to 127.0.0.1 must not read the mailbox), the
cross-site check of the API (``origin.py``) and a body size cap; every
response carries ``X-Content-Type-Options: nosniff``; every error is JSON
with a 4xx/5xx code, never an HTML traceback.
"""

from __future__ import annotations

import ipaddress
import socket

from flask import Flask, Response, request
from werkzeug.exceptions import HTTPException

from mailsink.chaos import Chaos
from mailsink.config import WILDCARD_HOSTS, Settings
from mailsink.credentials import Credentials
from mailsink.faults import Faults
from mailsink.ingest import Ingestor
from mailsink.mailbox import Mailbox
from mailsink.relay.relayer import Relayer
from mailsink.store.base import CorruptMessageError, is_disk_full
from mailsink.web import (
    aliases,
    api,
    auth,
    checks_api,
    events_api,
    faults_api,
    health,
    mailhog,
    message_api,
    metrics,
    openapi,
    relay_api,
    send,
    thumbnails,
    ui,
    view,
    websocket,
)
from mailsink.web.errors import ApiError, json_error
from mailsink.web.origin import is_cross_site, is_subresource_load
from mailsink.web.serialize import summary_json
from mailsink.web.state import EXTENSION_KEY, AppState, LongRequests
from mailsink.web.webroot import WebRoot

NO_CONTENT_CSP = "default-src 'none'; frame-ancestors 'none'"
"""The policy of every response that sets none of its own (JSON, errors, the event stream)."""

BLUEPRINTS = (
    health.bp,  # /livez, /readyz
    api.bp,  # Mailpit v1: list, search, mark, delete, tags, info
    message_api.bp,  # Mailpit v1: one message, its headers, raw source and parts
    thumbnails.bp,  # Mailpit v1: a JPEG thumbnail of an image part
    checks_api.bp,  # Mailpit v1 html/link/sa-check, and our auth-check
    view.bp,  # the sandboxed HTML/text views
    send.bp,  # POST /api/v1/send
    relay_api.bp,  # release to the upstream (Mailpit's and MailHog's routes)
    faults_api.bp,  # /api/v1/chaos (Mailpit) and /api/v1/faults
    events_api.bp,  # Server-Sent Events and the server-side wait
    websocket.bp,  # /api/events without an upgrade (the feed itself bypasses WSGI)
    metrics.bp,  # Prometheus /metrics, and the request counter
    mailhog.bp,  # MailHog's API for its clients
    openapi.bp,  # the OpenAPI document
    aliases.bp,  # Mailpit's paths users hit: /api/v1/swagger.json, /view/latest, /view/{ID}
    ui.bp,  # the browser UI
)


def allowed_host_names(settings: Settings) -> frozenset[str] | None:
    """Return the Host names to accept, or None for the wildcard default (:func:`host_is_allowed`).

    Bound to ``0.0.0.0``/``::`` without ``--allowed-hosts`` (the usual Docker
    set-up) the names the server is reached by cannot be known, but a DNS
    rebinding attack needs a public, dotted name that resolves to it; so the
    default accepts only names that cannot be such a name.
    """
    names = {name.lower() for name in settings.allowed_hosts}
    if settings.http_host in WILDCARD_HOSTS and not names:
        return None
    names.update({"localhost", settings.http_host.lower(), socket.gethostname().lower()})
    return frozenset(names)


def host_is_allowed(host_header: str, allowed: frozenset[str] | None) -> bool:
    """Tell whether a Host header names this server (IP literals always do).

    With ``allowed`` None (a wildcard bind without ``--allowed-hosts``):
    ``localhost``, ``*.localhost``, IP literals and single-label names (a
    container or service name such as ``mailsink``); other dotted names are
    refused until listed.
    """
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
    if allowed is None:
        return host == "localhost" or host.endswith(".localhost") or "." not in host
    return host in allowed or any(
        name.startswith("*.") and host.endswith(name[1:]) for name in allowed
    )


def create_app(
    mailbox: Mailbox,
    settings: Settings,
    *,
    ingestor: Ingestor,
    smtp_address: tuple[str, int] | None = None,
    faults: Faults | None = None,
    chaos: Chaos | None = None,
    relayer: Relayer | None = None,
) -> Flask:
    """Create the web application over a mailbox; ``ingestor`` stores what the send API builds.

    ``faults`` and ``chaos`` are the SMTP listener's misbehaviour rules,
    ``relayer`` sends releases upstream.  The caller owns the lifecycles
    (``start()`` before serving, ``close()`` after): the app starts no thread.
    """
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = settings.max_request_bytes
    app.json.sort_keys = False  # type: ignore[attr-defined]
    credentials = (  # raises CredentialsError for an unusable --ui-auth-file
        Credentials.load(settings.ui_auth, settings.ui_auth_file) if settings.web_auth else None
    )
    app.extensions[EXTENSION_KEY] = AppState(
        mailbox=mailbox,
        ingestor=ingestor,
        settings=settings,
        smtp_address=smtp_address or (settings.smtp_host, settings.smtp_port),
        # Leave a few worker threads for ordinary requests however many streams are open.
        long_requests=LongRequests(max(1, settings.http_threads - 4)),
        websockets=websocket.WebSocketHub(mailbox, settings, summary_json, credentials),
        faults=faults or Faults(),
        chaos=chaos or Chaos(settings.enable_chaos),
        relayer=relayer,
    )
    _guard_requests(app, allowed_host_names(settings), settings.cors_origins)
    if credentials is not None:
        auth.require_login(app, credentials)
    _answer_errors_as_json(app)
    for blueprint in BLUEPRINTS:
        app.register_blueprint(blueprint)
    if settings.web_prefix:
        app.wsgi_app = WebRoot(app.wsgi_app, settings.web_prefix)  # type: ignore[method-assign]
    return app


def _guard_requests(
    app: Flask, allowed: frozenset[str] | None, cors_origins: tuple[str, ...]
) -> None:
    """Check every request's Host (DNS rebinding) and site; mark every response ``nosniff``."""

    @app.before_request
    def check_host() -> Response | None:
        if not host_is_allowed(request.headers.get("Host", ""), allowed):
            return json_error(
                400,
                "Host header not allowed; add the name with --allowed-hosts "
                "(protection against DNS rebinding)",
            )
        if is_cross_site(request, cors_origins):
            return json_error(
                403,
                "cross-site request refused: the API answers only its own UI, clients that "
                "are not web pages, and origins allowed with --cors-origin",
            )
        if is_subresource_load(request):
            return json_error(
                403,
                "the API is not loaded as an image, style, font, frame or script "
                "(Sec-Fetch-Dest); fetch it instead",
            )
        return None

    @app.after_request
    def common_headers(response: Response) -> Response:
        response.headers["X-Content-Type-Options"] = "nosniff"
        # No response may be framed by another site, and none that sets no policy of
        # its own (JSON, raw) may load anything if a browser renders it.
        policy = response.headers.get("Content-Security-Policy")
        if policy is None:
            response.headers["Content-Security-Policy"] = NO_CONTENT_CSP
        elif "frame-ancestors" not in policy:
            response.headers["Content-Security-Policy"] = f"{policy}; frame-ancestors 'none'"
        return response


def _answer_errors_as_json(app: Flask) -> None:
    """Turn every error into ``{"Error": ...}`` with its status, never an HTML page."""

    @app.errorhandler(ApiError)
    def api_error(error: ApiError) -> Response:
        return json_error(error.status, error.message)

    @app.errorhandler(CorruptMessageError)
    def corrupt_message(error: CorruptMessageError) -> Response:
        app.logger.error("%s", error)
        return json_error(500, str(error))

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> Response:
        return json_error(error.code or 500, error.description or error.name)

    @app.errorhandler(Exception)
    def internal_error(error: Exception) -> Response:
        if is_disk_full(error):
            app.logger.error("storing failed, the disk is full: %s", error)
            return json_error(507, "the store's disk is full: free some space, then try again")
        app.logger.exception("unhandled error")
        return json_error(500, f"internal error: {type(error).__name__}")
