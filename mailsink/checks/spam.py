"""The spam check: a real SpamAssassin ``spamd`` scores the message over the spamc protocol.

Mailpit's ``/sa-check`` in the same shape (``IsSpam``, ``Error``, ``Score``,
``Rules`` with ``Score``, ``Name``, ``Description``).  The client is written
here: the protocol is one request (``REPORT SPAMC/1.5`` with a
Content-length) and one answer (a ``Spam: True ; 1005.2 / 5.0`` header and the
report table), smaller than any kept library that speaks it.  Bounded:
connect and read timeouts, the message capped at :data:`MAX_MESSAGE`, the
answer at :data:`MAX_ANSWER`.  An unreachable spamd is an ``Error`` in the
answer, as in Mailpit, never a 5xx.
"""

from __future__ import annotations

import math
import re
import socket
from typing import Any

from mailsink.config import split_host_port

MAX_MESSAGE = 10 * 1024 * 1024
MAX_ANSWER = 1024 * 1024
TIMEOUT = 15.0
SPAM_SCORE = 5.0
"""Mailpit's threshold for ``IsSpam`` (SpamAssassin's default ``required_score``)."""

_STATUS = re.compile(r"^SPAMD/(\S+) (\d+) (.*)$")
_SPAM_HEADER = re.compile(r"^Spam: (\S+) ; (-?[0-9.]+) / (-?[0-9.]+)", re.I | re.M)
_RULE = re.compile(r"^\s?(-?[0-9.]+)\s([A-Za-z0-9_]+)\s+(.*)$")
_CONTINUATION = re.compile(r"\n {20,}")


class SpamdError(Exception):
    """spamd could not be reached or answered something else than a report."""


def spamd_report(raw: bytes, address: str, timeout: float = TIMEOUT) -> str:
    """Send a message to spamd with REPORT and return its whole answer as text."""
    host, port = split_host_port(address)
    body = raw[:MAX_MESSAGE]
    request = f"REPORT SPAMC/1.5\r\nContent-length: {len(body)}\r\n\r\n".encode() + body
    try:
        with socket.create_connection((host, port), timeout=timeout) as connection:
            connection.sendall(request)
            connection.shutdown(socket.SHUT_WR)
            chunks: list[bytes] = []
            size = 0
            while size <= MAX_ANSWER:
                chunk = connection.recv(65536)
                if not chunk:
                    break
                chunks.append(chunk)
                size += len(chunk)
    except OSError as error:
        raise SpamdError(f"spamd at {host}:{port}: {error}") from None
    return b"".join(chunks).decode("utf-8", "replace")


def _floor1(value: float) -> float:
    """Round down to one decimal, as Mailpit shows scores."""
    return math.floor(value * 10) / 10


def parse_report(answer: str) -> dict[str, Any]:
    """Turn spamd's REPORT answer into Mailpit's SpamAssassinResponse."""
    lines = answer.replace("\r\n", "\n")
    first = lines.partition("\n")[0]
    status = _STATUS.match(first)
    if status is None:
        raise SpamdError(f"not a spamd answer: {first[:80]!r}")
    if status.group(2) != "0":
        raise SpamdError(f"spamd answered {status.group(2)} {status.group(3)}")
    header = _SPAM_HEADER.search(lines)
    if header is None:
        raise SpamdError("spamd's answer has no Spam: header")
    score = float(header.group(2))
    rules = []
    _head, _, report = _CONTINUATION.sub(" ", lines).partition("Content analysis details")
    for line in report.splitlines():
        rule = _RULE.match(line)
        if rule is not None:
            rules.append(
                {
                    "Score": _floor1(float(rule.group(1))),
                    "Name": rule.group(2),
                    "Description": rule.group(3).strip(),
                }
            )
    return {
        "IsSpam": score >= SPAM_SCORE,
        "Error": "",
        "Score": _floor1(score),
        "Rules": rules,
    }


def check_spam(raw: bytes, address: str, timeout: float = TIMEOUT) -> dict[str, Any]:
    """Return Mailpit's SpamAssassinResponse; an unreachable spamd is reported in Error."""
    try:
        return parse_report(spamd_report(raw, address, timeout))
    except (SpamdError, ValueError) as error:
        return {"IsSpam": False, "Error": str(error), "Score": 0, "Rules": []}
