"""The Mailpit REST API v1: list, search, mark, delete, tags, info (the ``api`` blueprint).

Paths and JSON shapes follow Mailpit's ``swagger.json`` so that Mailpit
clients work unchanged; request JSON keys are matched case-insensitively and
``DELETE /api/v1/messages`` without IDs deletes everything, as in Mailpit.
The rest of the JSON API has a blueprint per concern (one message, views,
send, events and waits, MailHog, OpenAPI), each registered by ``create_app``.
Our additions are documented in the OpenAPI document at ``/api/v1/openapi.json``.
"""

from __future__ import annotations

import resource
import sys
import time
from pathlib import Path
from typing import Any

from flask import Blueprint, Response, request

from mailsink import __version__
from mailsink.config import is_memory_store
from mailsink.search import Query, Term
from mailsink.store import MAX_PAGE, MessageStore, Page
from mailsink.web.errors import ApiError
from mailsink.web.params import (
    MAX_TAGS,
    json_body,
    mailbox,
    page_args,
    search_query,
    string_list,
)
from mailsink.web.serialize import page_json
from mailsink.web.state import app_state

bp = Blueprint("api", __name__)


@bp.after_app_request
def _cors(response: Response) -> Response:
    """Allow the configured origins (``--cors-origin``) to call the API; nobody by default."""
    origins = app_state().settings.cors_origins
    origin = request.headers.get("Origin")
    if not origins or not origin or not request.path.startswith(("/api/", "/view/")):
        return response
    if "*" in origins or origin in origins:
        response.headers["Access-Control-Allow-Origin"] = "*" if "*" in origins else origin
        response.headers["Access-Control-Allow-Methods"] = "GET, POST, PUT, DELETE, OPTIONS"
        response.headers["Access-Control-Allow-Headers"] = "Content-Type, Authorization"
        response.headers["Access-Control-Max-Age"] = "600"
        response.headers.add("Vary", "Origin")
    return response


def ok() -> Response:
    """Return Mailpit's plain-text ``ok``."""
    return Response("ok", mimetype="text/plain")


UNREAD = Term("is", "unread")


def list_page(store: MessageStore, start: int, limit: int, query: Query | None = None) -> Page:
    """Return up to ``limit`` messages from ``start``, reading the store ``MAX_PAGE`` at a time."""
    page = store.list(start, min(limit, MAX_PAGE), query)
    items = list(page.items)
    while len(items) < limit and len(page.items) == MAX_PAGE:
        page = store.list(start + len(items), min(limit - len(items), MAX_PAGE), query)
        items.extend(page.items)
    return Page(items, page.total, page.unread, page.matched, start, page.matched_unread)


def matched_unread(store: MessageStore, query: Query, page: Page) -> int:
    """Return how many of the messages matching ``query`` are unread (``messages_unread``).

    Exact without a second query when the page already tells: nothing or
    everything unread (the usual test mailbox: nobody reads), every message
    matching, or every match on this page; and every store counts them with
    the search itself (``Page.matched_unread``), so this is the fallback.
    """
    if page.matched_unread is not None:
        return page.matched_unread
    if page.unread == 0 or page.matched == 0:
        return 0
    if page.unread == page.total:
        return page.matched
    if page.matched == page.total:
        return page.unread
    if page.start == 0 and len(page.items) == page.matched:
        return sum(not message.read for message in page.items)
    return store.list(0, 0, Query((*query.terms, UNREAD))).matched


@bp.get("/api/v1/messages")
def list_messages() -> Any:
    """List messages newest first (start, limit)."""
    start, limit = page_args()
    store = mailbox().store
    page = list_page(store, start, limit)
    return page_json(page, store.tags(), page.unread)


@bp.get("/api/v1/search")
def search_messages() -> Any:
    """List the messages matching ``query`` newest first (start, limit, tz)."""
    if "query" not in request.args:
        raise ApiError("query is required, e.g. ?query=to:alice@example.com")
    query = search_query()
    start, limit = page_args()
    store = mailbox().store
    page = list_page(store, start, limit, query)
    return page_json(page, store.tags(), matched_unread(store, query, page))


@bp.delete("/api/v1/search")
def delete_search() -> Response:
    """Delete every message matching ``query``."""
    if not request.args.get("query", "").strip():
        raise ApiError("query is required; to delete everything use DELETE /api/v1/messages")
    query = search_query()
    if query.is_empty():
        raise ApiError("the search matches everything; use DELETE /api/v1/messages for that")
    box = mailbox()
    box.delete(box.store.ids(query))
    return ok()


@bp.put("/api/v1/messages")
def set_read() -> Response:
    """Mark messages read or unread: by ``IDs``, by ``Search`` (or ``?search=``), else all."""
    body = json_body()
    read = body.get("read", False)
    if not isinstance(read, bool):
        raise ApiError("Read must be true or false")
    ids = string_list(body, "IDs", "IDs")
    search = body.get("search", request.args.get("search"))
    if search is not None and not isinstance(search, str):
        raise ApiError("Search must be a string")
    box = mailbox()
    if ids:
        targets = ids
    elif search and search.strip():
        targets = box.store.ids(search_query(search, request.args.get("tz", "")))
    else:
        targets = box.store.ids()
    box.set_read(targets, read)
    return ok()


@bp.delete("/api/v1/messages")
def delete_messages() -> Response:
    """Delete messages by ``IDs``; without IDs (or with a body that is not JSON) delete all."""
    ids = string_list(json_body(lenient=True), "IDs", "IDs")
    box = mailbox()
    if ids:
        box.delete(ids)
    else:
        box.clear()
    if not request.headers.get("Accept") and not request.headers.get("User-Agent"):
        # MailHog's Node client (npm mailhog) sends neither header and JSON.parse()s any
        # non-empty body, so answer such a bare request as MailHog does: an empty body.
        return Response("", mimetype="text/plain")
    return ok()


@bp.get("/api/v1/tags")
def get_tags() -> Any:
    """Return every tag in use; with ``?counts=1`` each with its number of messages.

    Mailpit's clients read the plain list, so the counts (for the UI's tag
    list) are an opt-in object of the same tags in the same order.
    """
    counts = request.args.get("counts", "0").lower()
    if counts not in ("0", "1", "false", "true"):
        raise ApiError("counts must be 1 or 0")
    store = mailbox().store
    return store.tag_counts() if counts in ("1", "true") else store.tags()


@bp.put("/api/v1/tags")
def set_tags() -> Response:
    """Replace the tags of the messages in ``IDs`` with ``Tags`` (empty removes all)."""
    body = json_body(required=True)
    ids = string_list(body, "IDs", "IDs")
    tags = string_list(body, "Tags", "Tags", maximum=MAX_TAGS)
    if not ids:
        raise ApiError("IDs is required: the messages to tag")
    if tags is None:
        raise ApiError("Tags is required (an empty array removes every tag)")
    mailbox().set_tags(ids, [t for t in tags if t.strip()])
    return ok()


def _require_tag(tag: str) -> None:
    """Refuse a tag that no message carries."""
    if tag.lower() not in {t.lower() for t in mailbox().store.tags()}:
        raise ApiError(f"tag {tag[:100]!r} not found", 404)


@bp.put("/api/v1/tags/<path:tag>")
def rename_tag(tag: str) -> Response:
    """Rename a tag on every message."""
    name = json_body(required=True).get("name")
    if not isinstance(name, str) or not name.strip():
        raise ApiError("Name is required: the tag's new name")
    _require_tag(tag)
    mailbox().rename_tag(tag, name.strip())
    return ok()


@bp.delete("/api/v1/tags/<path:tag>")
def delete_tag(tag: str) -> Response:
    """Remove a tag from every message (the messages stay)."""
    _require_tag(tag)
    mailbox().delete_tag(tag)
    return ok()


def database_file(spec: str, store: MessageStore) -> tuple[str, int]:
    """Return the store's path ('' for memory) and the bytes all its files take on disk."""
    return ("" if is_memory_store(spec) else str(Path(spec))), store.disk_usage()


def _memory_bytes() -> int:
    """Return this process's peak resident memory in bytes."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)


@bp.get("/api/v1/info")
def info() -> Any:
    """Return Mailpit's AppInformation: version, counts, tags, runtime stats."""
    state = app_state()
    store = state.mailbox.store
    stats = state.stats.snapshot()
    database, size = database_file(state.settings.store, store)
    tags = store.tag_counts()  # no search per tag: each would scan every message
    return {
        "Version": __version__,
        "LatestVersion": "",
        "Database": database,
        "DatabaseSize": size,
        "Messages": store.count(),
        "Unread": store.unread(),
        "Tags": tags,
        "RuntimeStats": {
            "Uptime": int(time.time() - state.started),
            "Memory": _memory_bytes(),
            "MessagesDeleted": stats.deleted,
            "SMTPAccepted": stats.accepted,
            "SMTPAcceptedSize": stats.accepted_bytes,
            "SMTPRejected": stats.rejected_total,
            "SMTPIgnored": stats.ignored,
        },
    }


@bp.get("/api/v1/webui")
def webui() -> Any:
    """Return Mailpit's web UI configuration, plus where our SMTP listener is."""
    state = app_state()
    host, port = state.smtp_address
    relay = state.relayer.settings if state.relayer is not None else None
    return {
        "Label": "",
        "MessageRelay": {
            "Enabled": relay is not None,
            # host:port only: the user and password of the relay URL are never shown.
            "SMTPServer": relay.upstream.address if relay else "",
            "ReturnPath": (relay.sender or "") if relay else "",
            "AllowedRecipients": (relay.allow or "") if relay else "",
            "BlockedRecipients": "",
            "OverrideFrom": "",
            # The stored bytes are sent unchanged (one Received: line prepended).
            "PreserveMessageIDs": relay is not None,
        },
        "SpamAssassin": bool(state.settings.spamassassin),
        "ChaosEnabled": state.chaos.enabled,
        "DuplicatesIgnored": False,
        "HideDeleteAllButton": False,
        "SMTPHost": host,
        "SMTPPort": port,
    }
