"""SMTP misbehaviour on demand over HTTP: Mailpit's ``/api/v1/chaos`` and our ``/api/v1/faults``.

Both change how the SMTP listener answers everyone, so both are off unless
the sink runs with ``--enable-chaos`` (as Mailpit's chaos is); otherwise they
answer 400 "Chaos is not enabled", Mailpit's words.

* ``GET/PUT /api/v1/chaos``: Mailpit's random triggers (``mailsink/chaos.py``).
* ``POST /api/v1/faults``: add a deterministic rule - the same rules the
  pytest fixture sets in-process (``mailsink/faults.py``), each with an
  optional ``Scope`` (a plus-address tag) and a ``Lifetime`` in seconds
  (default 600, 0 for none), answered 201 with its ``ID``.
  ``GET /api/v1/faults`` lists them, ``DELETE /api/v1/faults/{ID}`` removes
  one, ``DELETE /api/v1/faults?scope=TAG`` all of one scope (none: all).

POST bodies must be ``application/json``: a hostile web page cannot send that
cross-origin without a CORS preflight, which this server does not grant.
"""

from __future__ import annotations

import json
import re
import time
from typing import Any

from flask import Blueprint, request

from mailsink.faults import KINDS, STAGES, Rule
from mailsink.web.errors import ApiError
from mailsink.web.params import json_body
from mailsink.web.serialize import rfc3339
from mailsink.web.state import app_state

bp = Blueprint("api_faults", __name__)

DEFAULT_LIFETIME = 600.0
MAX_LIFETIME = 86_400.0
MAX_PATTERN = 1000


def require_json_body() -> None:
    """Refuse a state-changing POST whose body is not declared JSON (CSRF, module docstring)."""
    if request.mimetype != "application/json":
        raise ApiError("send the body as JSON (Content-Type: application/json)", 415)


def _enabled() -> None:
    if not app_state().chaos.enabled:
        raise ApiError("Chaos is not enabled (start mailsink with --enable-chaos)")


@bp.get("/api/v1/chaos")
def get_chaos() -> Any:
    """Return Mailpit's chaos triggers."""
    _enabled()
    return app_state().chaos.as_json()


@bp.put("/api/v1/chaos")
def set_chaos() -> Any:
    """Replace Mailpit's chaos triggers (left-out ones reset) and return them."""
    _enabled()
    try:
        body = json.loads(request.get_data() or b"{}")
    except (ValueError, RecursionError):
        raise ApiError("the body is not valid JSON") from None
    try:
        app_state().chaos.set_from_json(body)
    except ValueError as error:
        raise ApiError(str(error)) from None
    return app_state().chaos.as_json()


def _number(body: dict[str, Any], key: str, default: float, kind: type = float) -> Any:
    value = body.get(key.lower(), default)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ApiError(f"{key} must be a number")
    if kind is int and value != int(value):
        raise ApiError(f"{key} must be a whole number")
    return kind(value)


def _text(body: dict[str, Any], key: str) -> str | None:
    value = body.get(key.lower())
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > MAX_PATTERN:
        raise ApiError(f"{key} must be a string of at most {MAX_PATTERN} characters")
    return value


def _rule_options(body: dict[str, Any]) -> dict[str, Any]:
    """Return the scope and expiry every kind of rule takes."""
    scope = _text(body, "Scope")
    if scope is not None and not re.fullmatch(r"[^\s@<>+]{1,100}", scope):
        raise ApiError("Scope must be a plus-address tag (no spaces, @, < or >)")
    lifetime = _number(body, "Lifetime", DEFAULT_LIFETIME)
    if not 0 <= lifetime <= MAX_LIFETIME:
        raise ApiError(f"Lifetime must be between 0 and {MAX_LIFETIME:g} seconds")
    return {"scope": scope, "expires": time.time() + lifetime if lifetime else None}


def _address_match(body: dict[str, Any], kind: str) -> Any:
    """Return the exact address or compiled regex of a reject rule."""
    address = _text(body, "Address")
    pattern = _text(body, "Regex")
    if (address is None) == (pattern is None):
        raise ApiError(f"{kind} needs either Address (exact) or Regex")
    if address is not None:
        return address
    try:
        return re.compile(pattern or "")
    except re.error as error:
        raise ApiError(f"Regex is not a valid regular expression: {error}") from None


def rule_from_json(body: dict[str, Any]) -> str:
    """Add the rule a request describes to the listener's faults; return its ID."""
    faults = app_state().faults
    kind = _text(body, "Kind")
    if kind not in KINDS:
        raise ApiError(f"Kind must be one of {', '.join(KINDS)}")
    stage = _text(body, "Stage")
    if stage is not None and stage not in STAGES:
        raise ApiError(f"Stage must be one of {', '.join(STAGES)}")
    options = _rule_options(body)
    code = _number(body, "Code", 0, int) or None
    message = _text(body, "Message")
    count = _number(body, "Count", 1, int)
    try:
        if kind == "reject_sender":
            return faults.reject_sender(_address_match(body, kind), code or 550, message, **options)
        if kind == "reject_recipient":
            match = _address_match(body, kind)
            return faults.reject_recipient(match, code or 550, message, **options)
        if kind == "fail_next":
            return faults.fail_next(count, code or 451, message, **options)
        if kind == "refuse":
            return faults.refuse(count, code or 554, message, **options)
        if kind == "drop_connection":
            return faults.drop_connection(stage or "data", count, **options)
        seconds = _number(body, "Seconds", 0.0)
        if seconds <= 0:
            raise ApiError("delay needs Seconds greater than 0")
        return faults.delay(seconds, stage or "data", **options)
    except ValueError as error:
        raise ApiError(str(error)) from None


def rule_json(rule: Rule) -> dict[str, Any]:
    """Return one rule as the API shows it."""
    match = rule.match
    return {
        "ID": rule.id,
        "Kind": rule.kind,
        "Stage": rule.stage,
        "Address": match if isinstance(match, str) else None,
        "Regex": match.pattern if isinstance(match, re.Pattern) else None,
        "Predicate": callable(match),
        "Reply": rule.reply,
        "Remaining": rule.remaining,
        "Seconds": rule.seconds,
        "Scope": rule.scope,
        "Created": rfc3339(rule.created),
        "Expires": rfc3339(rule.expires) if rule.expires is not None else None,
    }


@bp.post("/api/v1/faults")
def add_fault() -> Any:
    """Add one fault rule; answer 201 with it."""
    _enabled()
    require_json_body()
    rule_id = rule_from_json(json_body(required=True))
    found = [r for r in app_state().faults.rules() if r.id == rule_id]
    if not found:
        raise ApiError("the rule was replaced at once", 409)
    return rule_json(found[0]), 201


@bp.get("/api/v1/faults")
def list_faults() -> Any:
    """List the rules in force, oldest first (optionally of one ``?scope=``)."""
    _enabled()
    scope = request.args.get("scope")
    rules = [r for r in app_state().faults.rules() if scope is None or r.scope == scope]
    return {"Rules": [rule_json(r) for r in rules]}


@bp.delete("/api/v1/faults/<rule_id>")
def delete_fault(rule_id: str) -> Any:
    """Remove one rule."""
    _enabled()
    if not app_state().faults.remove(rule_id):
        raise ApiError(f"no fault rule {rule_id!r}", 404)
    return {"Removed": 1}


@bp.delete("/api/v1/faults")
def delete_faults() -> Any:
    """Remove every rule of ``?scope=``, or every rule."""
    _enabled()
    faults = app_state().faults
    scope = request.args.get("scope")
    if scope is not None:
        return {"Removed": faults.remove_scope(scope)}
    count = len(faults.rules())
    faults.clear()
    return {"Removed": count}
