"""Fault rules: make the SMTP listener misbehave on purpose, so retry paths can be tested.

The pytest fixture sets rules for one test and clears them afterwards; the
HTTP API (``/api/v1/faults``, ``web/faults_api.py``) sets them for clients in
any language.  The listener consults them when a client connects and at MAIL,
RCPT and DATA.  A rule can refuse a sender or recipient with a chosen reply
code, fail the next N messages at DATA, delay a reply, or drop the connection
without replying; at the ``connect`` stage it can refuse the greeting too.

Rules from many clients coexist, so each rule has an ID (to remove just that
one), an optional **scope** and an optional **lifetime**:

* A scope is a plus-address tag (``token`` in ``user+token@host``, the pytest
  plugin's per-test token): the rule then applies only to a command whose
  address carries it (MAIL: the sender; RCPT: the recipient) or, at DATA, to a
  message with a recipient that carries it.  At ``connect`` nothing is known
  yet, so a connect rule cannot be scoped.
* A lifetime makes a rule expire by itself, so a client that dies (a crashed
  test worker) leaves nothing behind for long.

With no rules set, :meth:`Faults.apply` returns at once, so the hot path pays
one check.  Rules are changed from other threads (the test's, the web
server's) and read on the listener's loop thread, so every access holds a lock.
"""

from __future__ import annotations

import asyncio
import itertools
import re
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Union

from mailsink.message import plus_tags

AddressMatch = Union[str, "re.Pattern[str]", Callable[[str], bool]]
"""An exact address (case-insensitive), a compiled regex (searched) or a predicate."""

STAGES = ("connect", "mail", "rcpt", "data")
KINDS = ("reject_sender", "reject_recipient", "fail_next", "delay", "drop_connection", "refuse")
MAX_RULES = 1000
"""Rules at most at once: the HTTP API refuses more (each is checked per command)."""
MAX_DELAY = 600.0


def _reply(code: int, message: str | None, default: str) -> str:
    """Return an SMTP reply line for a chosen code, with an enhanced status code."""
    if not 400 <= code <= 599:
        raise ValueError(f"a fault reply code must be 4xx or 5xx, got {code}")
    text = " ".join((message or default).split())
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in text):
        raise ValueError("a fault reply message must not hold control characters")
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


def _carries(scope: str, addresses: Iterable[str]) -> bool:
    """Tell whether any address carries the plus-address tag ``scope`` (case-insensitive)."""
    wanted = scope.lower()
    return any(tag.lower() == wanted for tag in plus_tags([a.strip("<>") for a in addresses]))


_ids = itertools.count(1)


@dataclass
class Rule:
    """One misbehaviour rule; ``kind`` says which of the fields below it uses."""

    kind: str
    stage: str
    reply: str | None = None
    """The reply sent instead of the normal one; None for a delay or a drop."""
    match: AddressMatch | None = None
    """reject_sender / reject_recipient: which addresses."""
    remaining: int | None = None
    """Counted rules (fail_next, drop_connection, refuse): how many more times."""
    seconds: float = 0.0
    """delay: how long to wait before replying."""
    scope: str | None = None
    expires: float | None = None
    """time.time() after which the rule is gone; None: until removed."""
    id: str = field(default_factory=lambda: f"f{next(_ids)}")
    created: float = field(default_factory=time.time)

    def applies(self, stage: str, address: str | None, recipients: Iterable[str]) -> bool:
        """Tell whether this rule concerns one command (its stage, scope and address)."""
        if self.stage != stage:
            return False
        if self.scope is not None:
            scoped = [address] if address is not None and stage in ("mail", "rcpt") else recipients
            if not _carries(self.scope, scoped):
                return False
        if self.match is not None:
            return address is not None and address_matches(self.match, address)
        return True


class Faults:
    """The misbehaviour rules of one listener; empty by default."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rules: list[Rule] = []
        self.active = False

    # -- the in-process surface (the pytest fixture); each returns the new rule's ID
    def reject_sender(
        self, address: AddressMatch, code: int = 550, message: str | None = None, **rule: Any
    ) -> str:
        """Answer MAIL FROM with ``code`` for senders matching ``address``."""
        reply = _reply(code, message, "Sender rejected (mailsink fault rule)")
        return self.add(Rule("reject_sender", "mail", reply, match=address, **rule))

    def reject_recipient(
        self, address: AddressMatch, code: int = 550, message: str | None = None, **rule: Any
    ) -> str:
        """Answer RCPT TO with ``code`` for recipients matching ``address``."""
        reply = _reply(code, message, "Recipient rejected (mailsink fault rule)")
        return self.add(Rule("reject_recipient", "rcpt", reply, match=address, **rule))

    def fail_next(
        self, count: int = 1, code: int = 451, message: str | None = None, **rule: Any
    ) -> str:
        """Answer DATA of the next ``count`` messages with ``code``; they are not stored."""
        if count < 1:
            raise ValueError("count must be at least 1")
        reply = _reply(code, message, "Temporary failure (mailsink fault rule), try again")
        return self.add(Rule("fail_next", "data", reply, remaining=count, **rule))

    def drop_connection(self, stage: str = "data", count: int = 1, **rule: Any) -> str:
        """Close the next ``count`` connections at ``stage`` without a reply."""
        if count < 1:
            raise ValueError("count must be at least 1")
        return self.add(Rule("drop_connection", _stage(stage), remaining=count, **rule))

    def refuse(
        self, count: int = 1, code: int = 554, message: str | None = None, **rule: Any
    ) -> str:
        """Greet the next ``count`` connections with ``code`` instead of 220, then close them."""
        if count < 1:
            raise ValueError("count must be at least 1")
        reply = _reply(code, message, "No service (mailsink fault rule)")
        return self.add(Rule("refuse", "connect", reply, remaining=count, **rule))

    def delay(self, seconds: float, stage: str = "data", **rule: Any) -> str:
        """Wait ``seconds`` before every reply at ``stage`` (0 removes the delay).

        A new delay replaces the earlier one of the same stage and scope.
        """
        if not 0 <= seconds <= MAX_DELAY:
            raise ValueError(f"seconds must be between 0 and {MAX_DELAY:g}")
        stage = _stage(stage)
        scope = rule.get("scope")
        with self._lock:
            self._rules = [
                r
                for r in self._rules
                if not (r.kind == "delay" and r.stage == stage and r.scope == scope)
            ]
            self.active = bool(self._rules)
        if seconds == 0:
            return ""
        return self.add(Rule("delay", stage, seconds=float(seconds), **rule))

    # -- rules by ID (the HTTP API)
    def add(self, rule: Rule) -> str:
        """Add a rule; return its ID."""
        if rule.stage == "connect" and rule.scope is not None:
            raise ValueError(
                "a connect rule cannot be scoped: no address is known when a client connects"
            )
        with self._lock:
            self._purge(time.time())
            if len(self._rules) >= MAX_RULES:
                raise ValueError(f"too many fault rules (at most {MAX_RULES}); remove some first")
            self._rules.append(rule)
            self.active = True
        return rule.id

    def remove(self, rule_id: str) -> bool:
        """Remove one rule; tell whether it existed."""
        with self._lock:
            before = len(self._rules)
            self._rules = [r for r in self._rules if r.id != rule_id]
            self.active = bool(self._rules)
            return len(self._rules) != before

    def remove_scope(self, scope: str) -> int:
        """Remove every rule of one scope; return how many there were."""
        with self._lock:
            before = len(self._rules)
            self._rules = [r for r in self._rules if r.scope != scope]
            self.active = bool(self._rules)
            return before - len(self._rules)

    def rules(self) -> list[Rule]:
        """Return the rules in force, oldest first."""
        with self._lock:
            self._purge(time.time())
            return list(self._rules)

    def clear(self) -> None:
        """Remove every rule: the listener behaves normally again."""
        with self._lock:
            self._rules.clear()
            self.active = False

    def _purge(self, now: float) -> None:
        """Drop expired and used-up rules (the lock is held)."""
        self._rules = [
            r
            for r in self._rules
            if (r.expires is None or r.expires > now) and (r.remaining is None or r.remaining > 0)
        ]
        self.active = bool(self._rules)

    def _decide(
        self, stage: str, address: str | None, recipients: Iterable[str]
    ) -> tuple[float, str | None, bool]:
        """Return (delay, reply or None, drop) for one command, using up counted rules."""
        recipients = tuple(recipients)
        with self._lock:
            self._purge(time.time())
            found = [r for r in self._rules if r.applies(stage, address, recipients)]
            delay = max((r.seconds for r in found if r.kind == "delay"), default=0.0)
            for rule in found:
                if rule.match is not None:
                    return delay, rule.reply, False
            for rule in found:
                if rule.remaining is not None:
                    rule.remaining -= 1
                    return delay, rule.reply, rule.reply is None
            return delay, None, False

    async def apply(
        self,
        stage: str,
        server: Any,
        address: str | None = None,
        recipients: Iterable[str] = (),
    ) -> str | None:
        """Apply the rules for one command: maybe sleep, then a reply to send instead, or None.

        ``recipients`` are the envelope's so far (what a DATA-stage scope is
        matched against).  When the rule drops the connection the transport is
        aborted and a placeholder reply is returned (it is never sent).
        """
        if not self.active:
            return None
        delay, reply, drop = self._decide(stage, address, recipients)
        if delay:
            await asyncio.sleep(delay)
        if drop:
            transport = getattr(server, "transport", None)
            if transport is not None:
                transport.abort()
            return "421 4.4.2 Connection dropped (mailsink fault rule)"
        return reply
