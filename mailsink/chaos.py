"""Chaos: Mailpit's random SMTP failures, so clients written for Mailpit work unchanged.

Mailpit (``--enable-chaos``, ``GET/PUT /api/v1/chaos``) has three triggers,
each an error code and a probability in percent: ``Sender`` (answer MAIL with
the code), ``Recipient`` (RCPT) and ``Authentication`` (AUTH).  The shapes,
defaults and limits here are Mailpit's (``internal/smtpd/chaos/chaos.go``):
codes 400-599, probabilities 0-100, a trigger left out of a PUT is reset to
its default code with probability 0.  For failures a test can count on, use
the deterministic fault rules instead (``faults.py``).
"""

from __future__ import annotations

import secrets
import threading
from dataclasses import dataclass
from typing import Any

TRIGGERS = ("Sender", "Recipient", "Authentication")
DEFAULT_CODES = {"Sender": 451, "Recipient": 451, "Authentication": 535}
_REPLY_TEXT = {
    "Sender": "Chaos sender error",
    "Recipient": "Chaos recipient error",
    "Authentication": "Chaos authentication error",
}


@dataclass(frozen=True, slots=True)
class Trigger:
    """One trigger: the reply code, and the chance in percent that it fires."""

    error_code: int
    probability: int


class Chaos:
    """The chaos triggers of one sink; all at probability 0 until set."""

    def __init__(self, enabled: bool = False) -> None:
        self.enabled = enabled
        self._lock = threading.Lock()
        self._triggers = {name: Trigger(DEFAULT_CODES[name], 0) for name in TRIGGERS}

    def as_json(self) -> dict[str, dict[str, int]]:
        """Return the triggers in Mailpit's JSON shape."""
        with self._lock:
            return {
                name: {"ErrorCode": t.error_code, "Probability": t.probability}
                for name, t in self._triggers.items()
            }

    def set_from_json(self, body: Any) -> None:
        """Replace every trigger from Mailpit's JSON (missing ones reset); raise ValueError."""
        if not isinstance(body, dict):
            raise ValueError("expected a JSON object of triggers")
        # Field names are matched case-insensitively, as Go's JSON decoder does.
        given = {str(key).lower(): value for key, value in body.items()}
        unknown = sorted(set(given) - {name.lower() for name in TRIGGERS})
        if unknown:
            raise ValueError(f"unknown trigger {unknown[0]!r}; use {', '.join(TRIGGERS)}")
        triggers = {name: _trigger(name, given.get(name.lower())) for name in TRIGGERS}
        with self._lock:
            self._triggers = triggers

    def fire(self, name: str) -> str | None:
        """Return the reply for a trigger that fires this time, or None."""
        if not self.enabled:  # the hot path without --enable-chaos: one attribute read
            return None
        with self._lock:
            trigger = self._triggers[name]
        if trigger.probability <= 0:
            return None
        if secrets.randbelow(100) >= trigger.probability:
            return None
        return f"{trigger.error_code} {_REPLY_TEXT[name]}"


def _trigger(name: str, value: Any) -> Trigger:
    """Read one trigger of a PUT body, with Mailpit's defaults and limits."""
    if value is None:
        return Trigger(DEFAULT_CODES[name], 0)
    if not isinstance(value, dict):
        raise ValueError(f"{name}: expected an object with ErrorCode and Probability")
    fields = {str(key).lower(): item for key, item in value.items()}
    code = fields.get("errorcode") or DEFAULT_CODES[name]
    probability = fields.get("probability", 0)
    for label, number in (("ErrorCode", code), ("Probability", probability)):
        if isinstance(number, bool) or not isinstance(number, int):
            raise ValueError(f"{name}.{label} must be an integer")
    if not 400 <= code <= 599:
        raise ValueError("error code must be between 400 and 599")
    if not 0 <= probability <= 100:
        raise ValueError("probability must be between 0 and 100")
    return Trigger(code, probability)
