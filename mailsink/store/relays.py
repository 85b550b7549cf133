"""Relay records: what a store keeps about sending a message on (``mailsink/relay/``).

One :class:`RelayJob` per release or auto-relay of a message: who it goes
to, whether it is still pending, and every attempt with the upstream's reply.
Stores keep jobs opaque, as the JSON of :func:`encode_job`, beside the
message ID, the job ID and the pending flag they are looked up by.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal, Protocol, runtime_checkable

Result = Literal["sent", "deferred", "failed"]
State = Literal["pending", "sent", "failed"]


@dataclass(frozen=True, slots=True)
class RelayAttempt:
    """One try: when, to whom, how it ended, and what the upstream said."""

    at: float
    to: tuple[str, ...]
    result: Result
    reply: str


@dataclass(frozen=True, slots=True)
class RelayJob:
    """Sending one message on, to some recipients, until it is sent or given up."""

    id: str
    message_id: str
    mail_from: str
    rcpt_tos: tuple[str, ...]
    """The recipients still to send to (those refused for good are dropped)."""
    origin: Literal["release", "auto"]
    state: State = "pending"
    attempts: tuple[RelayAttempt, ...] = ()
    next_at: float = 0.0
    """When the next attempt is due (time.time()), while pending."""

    @property
    def pending(self) -> bool:
        """Tell whether more attempts will be made."""
        return self.state == "pending"


def encode_job(job: RelayJob) -> str:
    """Return a job as JSON text."""
    return json.dumps(
        {
            "id": job.id,
            "message_id": job.message_id,
            "mail_from": job.mail_from,
            "rcpt_tos": list(job.rcpt_tos),
            "origin": job.origin,
            "state": job.state,
            "next_at": job.next_at,
            "attempts": [[a.at, list(a.to), a.result, a.reply] for a in job.attempts],
        }
    )


def decode_job(text: str) -> RelayJob:
    """Return the job of :func:`encode_job`'s JSON."""
    data: dict[str, Any] = json.loads(text)
    return RelayJob(
        id=str(data["id"]),
        message_id=str(data["message_id"]),
        mail_from=str(data["mail_from"]),
        rcpt_tos=tuple(data["rcpt_tos"]),
        origin=data["origin"],
        state=data["state"],
        next_at=float(data["next_at"]),
        attempts=tuple(RelayAttempt(a[0], tuple(a[1]), a[2], a[3]) for a in data["attempts"]),
    )


@runtime_checkable
class RelayLeases(Protocol):
    """A store whose relay jobs several nodes share: a node leases a job before it attempts it.

    Without leases every node would attempt every pending job it finds, so
    a release would go out once per node.  A lease names the node and lasts
    some seconds; a job whose lease has run out (its node died mid-attempt)
    is taken by the next node that asks.  :meth:`put_relay` of the store
    ends the caller's lease.
    """

    def claim_relay(self, job: RelayJob, seconds: float) -> None:
        """Keep a new job as leased by this node for ``seconds`` (it is attempted now)."""
        ...

    def take_relays(self, seconds: float, limit: int) -> list[RelayJob]:
        """Lease up to ``limit`` pending jobs that are due and that no live lease holds."""
        ...
