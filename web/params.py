"""Read and check what an API request sends: query arguments, JSON bodies, searches.

Every helper raises :class:`ApiError` with a message a person can act on;
the API blueprint turns it into ``{"Error": ...}`` with a 4xx status, so no
input a client sends reaches the store unchecked or becomes a 500.
"""

from __future__ import annotations

import json
import math
from datetime import datetime, timezone
from typing import Any
from zoneinfo import ZoneInfo

from flask import request

from mailsink.mailbox import Mailbox
from mailsink.search import Query, SearchError, parse_query
from mailsink.store.base import StoredMessage
from mailsink.web.errors import ApiError
from mailsink.web.state import app_state

DEFAULT_LIMIT = 50
MAX_LIST = 10_000
"""The most messages one list or search answers (Mailpit has no cap; npm ``mailpit-api``
asks for 2000 at a time).  Served in store pages of ``MAX_PAGE``."""


def mailbox() -> Mailbox:
    """Return the mailbox of the current app."""
    return app_state().mailbox


def int_arg(name: str, default: int, maximum: int | None = None) -> int:
    """Return a non-negative integer query argument, refusing junk and values over maximum."""
    text = request.args.get(name, "").strip()
    if not text:
        return default
    try:
        value = int(text)
    except ValueError:
        raise ApiError(f"{name} must be a whole number, got {text[:40]!r}") from None
    if value < 0:
        raise ApiError(f"{name} must not be negative")
    if maximum is not None and value > maximum:
        raise ApiError(f"{name} must be at most {maximum} (page through with start)")
    return value


def _lenient_int(name: str, default: int) -> int:
    """Return a non-negative integer argument, ``default`` for junk (as Mailpit's Atoi does)."""
    text = request.args.get(name, "").strip()
    try:
        value = int(text)
    except ValueError:
        return default
    return value if value >= 0 else default


def page_args() -> tuple[int, int]:
    """Return (start, limit) as Mailpit reads them: junk or negative gives 0 and 50.

    Real clients send what Mailpit takes (npm ``mailpit-api`` asks for
    ``limit=2000``), so a limit above ``MAX_LIST`` is served as ``MAX_LIST``
    instead of refused.
    """
    start = min(_lenient_int("start", 0), 2**62)
    return start, min(_lenient_int("limit", DEFAULT_LIMIT), MAX_LIST)


def known_zone(tz: str) -> str | None:
    """Return ``tz`` if it names an IANA zone, else None (Mailpit ignores an unknown ``tz``)."""
    if not tz or len(tz) > 100:
        return None
    try:
        ZoneInfo(tz)
    except (KeyError, ValueError, OSError):  # ZoneInfoNotFoundError is a KeyError
        return None
    return tz


def float_arg(name: str, default: float, maximum: float) -> float:
    """Return a number of seconds from the query string, between 0 and maximum."""
    text = request.args.get(name, "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        raise ApiError(f"{name} must be a number of seconds, got {text[:40]!r}") from None
    if not 0 <= value <= maximum:  # also refuses nan
        raise ApiError(f"{name} must be between 0 and {maximum:g} seconds")
    return value


def bool_arg(name: str) -> bool:
    """Tell whether a flag argument such as ``?peek=1`` is set."""
    return request.args.get(name, "").strip().lower() in ("1", "true", "yes", "on")


def search_query(text: str | None = None, tz: str | None = None) -> Query:
    """Parse a search (default: the ``query`` argument) in zone ``tz`` (default: ``tz`` arg)."""
    if text is None:
        text = request.args.get("query", "")
    if tz is None:
        tz = request.args.get("tz", "")
    try:
        return parse_query(text, known_zone(tz))
    except SearchError as error:
        raise ApiError(f"bad search: {error}") from None


def json_body(required: bool = False, lenient: bool = False) -> dict[str, Any]:
    """Return the JSON object body, keys lowercased (Mailpit matches them case-insensitively).

    ``lenient``: a body that is not JSON counts as none, as Mailpit's
    ``DELETE /api/v1/messages`` reads it (PyPI ``mailpit-api-client`` sends a form there).
    """
    data = request.get_data(cache=True)
    if not data.strip():
        if required:
            raise ApiError("a JSON object body is required")
        return {}
    try:
        parsed = json.loads(data)
    except (ValueError, RecursionError):
        if lenient:
            return {}
        raise ApiError("the body is not valid JSON") from None
    if not isinstance(parsed, dict):
        raise ApiError("the body must be a JSON object")
    if b"\\u" in data and _has_lone_surrogate(parsed):
        raise ApiError("the body holds a lone surrogate (\\udXXX escape): not a Unicode string")
    return {str(key).lower(): value for key, value in parsed.items()}


def _has_lone_surrogate(value: object) -> bool:
    """Tell whether decoded JSON holds a string no UTF-8 can carry (a lone ``\\ud800``)."""
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return True
    except RecursionError:  # nested too deep to be a request any route takes
        return False
    return False


MAX_IDS = 100_000
"""Most message IDs one request may name (IDs of PUT/DELETE /api/v1/messages, PUT tags)."""
MAX_TAGS = 100
"""Most tags one request may set on messages (PUT /api/v1/tags)."""


def string_list(
    body: dict[str, Any], key: str, label: str, maximum: int = MAX_IDS
) -> list[str] | None:
    """Return body[key] as a list of at most ``maximum`` strings, None when absent or null."""
    value = body.get(key.lower())
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ApiError(f"{label} must be an array of strings")
    if len(value) > maximum:
        raise ApiError(f"{label} holds {len(value)} items; at most {maximum} per request")
    return value


def get_message(message_id: str) -> StoredMessage:
    """Return the message with this ID, or the newest one (matching ``?query=``) for ``latest``."""
    store = mailbox().store
    if message_id == "latest":
        query = search_query() if request.args.get("query") else None
        page = store.list(0, 1, query)
        if not page.items:
            raise ApiError("no message found" + (" matching the search" if query else ""), 404)
        return page.items[0]
    found = store.get(message_id) if len(message_id) <= 100 else None
    if found is None:
        raise ApiError(f"message {message_id[:100]!r} not found", 404)
    return found


def parse_since(text: str) -> tuple[float, str | None]:
    """Return (unix time, message ID or None) for ``since``: an ID, unix seconds or RFC 3339."""
    text = text.strip()
    message = mailbox().store.get(text) if len(text) <= 100 else None
    if message is not None:  # first: an ID may be all digits ("0200...01"), a float too
        return message.received, message.id
    try:
        number = float(text)
    except ValueError:
        pass
    else:
        if not math.isfinite(number):
            raise ApiError("since must be a finite number of unix seconds")
        return number, None
    try:
        stamp = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        stamp = None
    if stamp is not None:
        if stamp.tzinfo is None:
            stamp = stamp.replace(tzinfo=timezone.utc)
        return stamp.timestamp(), None
    raise ApiError(
        f"since must be a message ID, unix seconds or an RFC 3339 time; got {text[:60]!r}"
    )
