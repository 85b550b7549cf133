"""Fault rules: make the SMTP listener misbehave on purpose, so retry paths can be tested.

The pytest fixture sets rules for one test and clears them afterwards; the
listener's handler consults them at MAIL, RCPT and DATA.  A rule can refuse a
sender or recipient with a chosen reply code, fail the next N messages at
DATA, delay a reply, or drop the connection without replying.  With no rules
set, :meth:`Faults.apply` returns at once, so the hot path pays one check.

Rules are changed from the test's thread and read on the listener's loop
thread, so every access holds a lock.
"""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Union

AddressMatch = Union[str, "re.Pattern[str]", Callable[[str], bool]]
"""An exact address (case-insensitive), a compiled regex (searched) or a predicate."""

STAGES = ("mail", "rcpt", "data")


def _reply(code: int, message: str | None, default: str) -> str:
    """Return an SMTP reply line for a chosen code, with an enhanced status code."""
    if not 400 <= code <= 599:
        raise ValueError(f"a fault reply code must be 4xx or 5xx, got {code}")
    text = " ".join((message or default).split())
    return f"{code} {code // 100}.0.0 {text}"


def _stage(stage: str) -> str:
    """Check a stage name."""
    if stage not in STAGES:
        raise ValueError(f"stage must be one of {', '.join(STAGES)}, got {stage!r}")
    return stage


def address_matches(match: AddressMatch, address: str) -> bool:
    """Tell whether an SMTP address fits an exact value, a regex or a predicate."""
    address = address.strip().strip("<>")
    if isinstance(match, str):
        return address.lower() == match.strip().strip("<>").lower()
    if isinstance(match, re.Pattern):
        return match.search(address) is not None
    try:
        return bool(match(address))
    except Exception:  # noqa: BLE001 - a user's predicate that raises simply does not match
        return False


@dataclass
class _AddressRule:
    stage: str
    match: AddressMatch
    reply: str


@dataclass
class _CountedRule:
    stage: str
    remaining: int
    reply: str | None  # None: drop the connection instead of replying


class Faults:
    """The misbehaviour rules of one listener; empty by default."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._address_rules: list[_AddressRule] = []
        self._counted: list[_CountedRule] = []
        self._delays: dict[str, float] = {}
        self.active = False

    def reject_sender(
        self, address: AddressMatch, code: int = 550, message: str | None = None
    ) -> None:
        """Answer MAIL FROM with ``code`` for senders matching ``address``."""
        reply = _reply(code, message, "Sender rejected (mailsink fault rule)")
        self._add(lambda: self._address_rules.append(_AddressRule("mail", address, reply)))

    def reject_recipient(
        self, address: AddressMatch, code: int = 550, message: str | None = None
    ) -> None:
        """Answer RCPT TO with ``code`` for recipients matching ``address``."""
        reply = _reply(code, message, "Recipient rejected (mailsink fault rule)")
        self._add(lambda: self._address_rules.append(_AddressRule("rcpt", address, reply)))

    def fail_next(self, count: int = 1, code: int = 451, message: str | None = None) -> None:
        """Answer DATA of the next ``count`` messages with ``code``; they are not stored."""
        if count < 1:
            raise ValueError("count must be at least 1")
        reply = _reply(code, message, "Temporary failure (mailsink fault rule), try again")
        self._add(lambda: self._counted.append(_CountedRule("data", count, reply)))

    def drop_connection(self, stage: str = "data", count: int = 1) -> None:
        """Close the next ``count`` connections at ``stage`` without a reply."""
        if count < 1:
            raise ValueError("count must be at least 1")
        rule = _CountedRule(_stage(stage), count, None)
        self._add(lambda: self._counted.append(rule))

    def delay(self, seconds: float, stage: str = "data") -> None:
        """Wait ``seconds`` before every reply at ``stage`` (0 removes the delay)."""
        if seconds < 0:
            raise ValueError("seconds must not be negative")
        stage = _stage(stage)
        self._add(lambda: self._delays.__setitem__(stage, float(seconds)))

    def clear(self) -> None:
        """Remove every rule: the listener behaves normally again."""
        with self._lock:
            self._address_rules.clear()
            self._counted.clear()
            self._delays.clear()
            self.active = False

    def _add(self, change: Callable[[], None]) -> None:
        with self._lock:
            change()
            self.active = True

    def _decide(self, stage: str, address: str | None) -> tuple[float, str | None, bool]:
        """Return (delay, reply or None, drop) for one command, using up counted rules."""
        with self._lock:
            delay = self._delays.get(stage, 0.0)
            if address is not None:
                for rule in self._address_rules:
                    if rule.stage == stage and address_matches(rule.match, address):
                        return delay, rule.reply, False
            for counted in self._counted:
                if counted.stage == stage and counted.remaining > 0:
                    counted.remaining -= 1
                    return delay, counted.reply, counted.reply is None
            return delay, None, False

    async def apply(self, stage: str, server: Any, address: str | None = None) -> str | None:
        """Apply the rules for one command: maybe sleep, then a reply to send instead, or None.

        When the rule drops the connection the transport is aborted and a
        placeholder reply is returned (it is never sent).
        """
        if not self.active:
            return None
        delay, reply, drop = self._decide(stage, address)
        if delay:
            await asyncio.sleep(delay)
        if drop:
            transport = getattr(server, "transport", None)
            if transport is not None:
                transport.abort()
            return "421 4.4.2 Connection dropped (mailsink fault rule)"
        return reply
