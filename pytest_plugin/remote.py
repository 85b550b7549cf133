"""Remote mode: drive a sink that runs elsewhere, over its HTTP API only.

Isolation without deleting anyone's mail: each test gets a random token, and
``mailsink.address("alice@example.com")`` returns ``alice+<token>@example.com``.
The sink tags every message with the plus-address part of its recipients, so
the test's messages are exactly the search ``tag:<token>`` - whatever other
tests, workers or machines send to the same sink meanwhile.  Waits are the
server-side long poll ``/api/v1/wait``; nothing is polled and nothing deleted.
Against a Mailpit-compatible sink without that endpoint, waits fall back to
searching every 0.1 s; Mailpit summaries lack our ``Envelope`` field, so the
envelope is then taken from the headers.
"""

from __future__ import annotations

import contextlib
import datetime
import http.client
import json
import re
import secrets
import socket
import threading
import time
import urllib.parse
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from mailsink.config import WILDCARD_HOSTS
from mailsink.credentials import split_url_credentials
from mailsink.message import Envelope, summarize
from mailsink.pytest_plugin.message import Message

if TYPE_CHECKING:
    from mailsink.faults import AddressMatch
    from mailsink.pytest_plugin.options import PluginOptions

_TOKEN_ALPHABET = "abcdefghijkmnpqrstuvwxyz23456789"
PAGE = 1000


FAULT_LIFETIME = 900.0
"""Seconds a remote fault rule lives if its test never removes it (a worker that died)."""

POLL_SECONDS = 0.1
"""How often to look again on a sink without ``/api/v1/wait`` (Mailpit itself)."""


class RemoteError(RuntimeError):
    """The sink's API could not be reached or answered something unexpected."""

    def __init__(self, message: str, status: int = 0) -> None:
        super().__init__(message)
        self.status = status


def new_token() -> str:
    """Return a fresh per-test token: lower-case, safe in an address's local part."""
    return "ms" + "".join(secrets.choice(_TOKEN_ALPHABET) for _ in range(10))


def _timestamp(created: str) -> float:
    try:
        return datetime.datetime.fromisoformat(created.replace("Z", "+00:00")).timestamp()
    except (AttributeError, ValueError):
        return time.time()


def _addresses(items: Any) -> tuple[str, ...]:
    if not isinstance(items, list):
        return ()
    return tuple(str(a.get("Address", "")) for a in items if isinstance(a, dict))


def envelope_of(summary: dict[str, Any]) -> Envelope:
    """Return the envelope of a summary; without our Envelope field (Mailpit), guess it."""
    env = summary.get("Envelope")
    if isinstance(env, dict):
        return Envelope(
            mail_from=str(env.get("MailFrom") or ""),
            rcpt_tos=tuple(str(r) for r in env.get("RcptTo") or ()),
            helo=str(env.get("Helo") or ""),
            peer=str(env.get("Peer") or ""),
            tls=bool(env.get("TLS")),
            auth_user=env.get("AuthUser"),
        )
    sender = summary.get("From") or {}
    rcpts = sum((_addresses(summary.get(k)) for k in ("To", "Cc", "Bcc")), ())
    return Envelope(str(sender.get("Address", "")), rcpts)


MAX_RESPONSE_BYTES = 128 * 1024 * 1024
"""The largest API answer read: a message at any sensible --max-size, and a page of them."""


def _read_capped(response: http.client.HTTPResponse, path: str) -> bytes:
    """Read a response body up to the size cap, or raise RemoteError."""
    length = response.getheader("Content-Length")
    if length is not None and length.isdigit() and int(length) > MAX_RESPONSE_BYTES:
        raise RemoteError(f"GET {path}: a {length}-byte answer is over {MAX_RESPONSE_BYTES}")
    body = response.read(MAX_RESPONSE_BYTES + 1)
    if len(body) > MAX_RESPONSE_BYTES:
        raise RemoteError(f"GET {path}: the answer is over {MAX_RESPONSE_BYTES} bytes")
    return body


def _shut(conn: http.client.HTTPConnection, fired: threading.Event) -> None:
    """End a request that ran out of time: a blocked read returns at once."""
    fired.set()
    with contextlib.suppress(OSError, AttributeError):
        conn.sock.shutdown(socket.SHUT_RDWR)


class RemoteServer:
    """A sink reached over HTTP; one per session."""

    def __init__(self, options: PluginOptions) -> None:
        self.options = options
        # http://user:pass@host:8025 works: the credentials go in a header, not the URL.
        self.url, self._headers = split_url_credentials(options.url)
        self._smtp = options.smtp
        self.ca_path = None
        self.has_wait = True
        """False on a sink without the long-poll endpoint: waits then poll the search."""
        if self._smtp is None:
            info = self.get_json("/api/v1/webui")
            host = str(info.get("SMTPHost") or "")
            if host in WILDCARD_HOSTS:
                host = urllib.parse.urlsplit(self.url).hostname or "127.0.0.1"
            self._smtp = (host, int(info.get("SMTPPort") or 1025))

    @property
    def host(self) -> str:
        """Return the SMTP host apps should send to."""
        assert self._smtp is not None
        return str(self._smtp[0])

    @property
    def port(self) -> int:
        """Return the SMTP port apps should send to."""
        assert self._smtp is not None
        return int(self._smtp[1])

    def fault_rules(self, token: str) -> RemoteFaults:
        """Return one test's fault rules, kept on the sink and scoped to its token."""
        return RemoteFaults(self, token)

    def send(self, method: str, path: str, body: Any = None) -> Any:
        """Send a JSON request (POST, DELETE); return the decoded answer, raise RemoteError."""
        data = json.dumps(body).encode() if body is not None else None
        status, answer = self._exchange(method, path, data, 30.0)
        if 200 <= status < 300:
            return json.loads(answer or b"null")
        text = answer[:300].decode("utf-8", "replace")
        with contextlib.suppress(ValueError, AttributeError):
            text = str(json.loads(text).get("Error", text))
        raise RemoteError(f"{method} {path} answered {status}: {text}", status)

    def request(
        self, path: str, params: dict[str, Any] | None = None, timeout: float = 30.0
    ) -> tuple[int, bytes]:
        """GET a path of the API; return (status, body) for 2xx and 408, raise otherwise."""
        query = "?" + urllib.parse.urlencode(params) if params else ""
        status, body = self._exchange("GET", path + query, None, timeout)
        if 200 <= status < 300 or status == 408:
            return status, body
        raise RemoteError(f"GET {path} answered {status}: {body[:300]!r}", status)

    def _exchange(
        self, method: str, path: str, data: bytes | None, timeout: float
    ) -> tuple[int, bytes]:
        """Make one request and return (status, body), whatever the status.

        The whole request, not each socket read, ends within ``timeout``: a
        watchdog shuts the socket at the deadline (a server sending a byte a
        second once held a test forever).  A body past
        :data:`MAX_RESPONSE_BYTES` is refused rather than read (a 300 MB
        answer cost 1.5 GB).
        """
        parts = urllib.parse.urlsplit(self.url)
        kind = (
            http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        )
        conn = kind(parts.hostname or "127.0.0.1", parts.port, timeout=timeout)
        fired = threading.Event()
        watchdog = threading.Timer(timeout, _shut, (conn, fired))
        watchdog.daemon = True
        headers = {"Content-Type": "application/json"} if data is not None else {}
        headers.update(self._headers)  # basic auth from http://user:pass@host
        try:
            conn.connect()
            watchdog.start()
            conn.request(method, parts.path.rstrip("/") + path, body=data, headers=headers)
            response = conn.getresponse()
            body = _read_capped(response, path)
        except (http.client.HTTPException, OSError) as error:
            if fired.is_set():
                raise RemoteError(f"{method} {path} took longer than {timeout} s") from None
            raise RemoteError(f"cannot reach the sink at {self.url}: {error}") from None
        finally:
            watchdog.cancel()
            conn.close()
        if fired.is_set():
            raise RemoteError(f"{method} {path} took longer than {timeout} s")
        return int(response.status), body

    def get_json(self, path: str, params: dict[str, Any] | None = None) -> Any:
        """GET a path and decode its JSON."""
        _status, body = self.request(path, params)
        return json.loads(body)

    def capture(self) -> RemoteCapture:
        """Start capturing for one test."""
        return RemoteCapture(self)

    def stop(self) -> None:
        """Nothing to stop: the sink belongs to someone else."""


class RemoteFaults:
    """One test's fault rules on a remote sink (``/api/v1/faults``), scoped to its token.

    Each rule applies only to mail whose recipient (or, at MAIL, whose sender)
    carries the token, so parallel tests against one sink never meet each
    other's rules; :meth:`clear` removes them when the test ends, and their
    lifetime removes them if it never does.  Matches must be exact addresses
    or compiled regexes: a Python predicate cannot travel to the sink.
    """

    def __init__(self, server: RemoteServer, token: str) -> None:
        self.server = server
        self.token = token
        self._ids: list[str] = []

    def _add(self, kind: str, **fields: Any) -> str:
        body = {"Kind": kind, "Scope": self.token, "Lifetime": FAULT_LIFETIME, **fields}
        try:
            rule = self.server.send("POST", "/api/v1/faults", body)
        except RemoteError as error:
            if "not enabled" in str(error):
                raise RemoteError(
                    "fault rules in remote mode need the sink started with --enable-chaos "
                    f"({error})",
                    error.status,
                ) from None
            raise
        rule_id = str(rule["ID"])
        self._ids.append(rule_id)
        return rule_id

    @staticmethod
    def _match(address: AddressMatch) -> dict[str, str]:
        if isinstance(address, str):
            return {"Address": address}
        if isinstance(address, re.Pattern):
            return {"Regex": address.pattern}
        raise TypeError(
            "in remote mode a fault rule matches an exact address or re.compile(...); "
            "a predicate cannot be sent to the sink"
        )

    def reject_sender(
        self, address: AddressMatch, code: int = 550, message: str | None = None
    ) -> str:
        """Refuse MAIL FROM for matching senders that carry this test's token."""
        return self._add("reject_sender", Code=code, Message=message, **self._match(address))

    def reject_recipient(
        self, address: AddressMatch, code: int = 550, message: str | None = None
    ) -> str:
        """Refuse RCPT TO for matching recipients that carry this test's token."""
        return self._add("reject_recipient", Code=code, Message=message, **self._match(address))

    def fail_next(self, count: int = 1, code: int = 451, message: str | None = None) -> str:
        """Answer DATA with ``code`` for this test's next ``count`` messages."""
        return self._add("fail_next", Count=count, Code=code, Message=message)

    def delay(self, seconds: float, stage: str = "data") -> str:
        """Delay the replies at ``stage`` to this test's mail."""
        if seconds == 0:
            for rule in self.server.get_json("/api/v1/faults", {"scope": self.token})["Rules"]:
                if rule["Kind"] == "delay" and rule["Stage"] == stage:
                    self.server.send("DELETE", f"/api/v1/faults/{rule['ID']}")
            return ""
        return self._add("delay", Seconds=seconds, Stage=stage)

    def drop_connection(self, stage: str = "data", count: int = 1) -> str:
        """Close the connection at ``stage`` for this test's next ``count`` messages."""
        return self._add("drop_connection", Stage=stage, Count=count)

    def refuse(self, count: int = 1, code: int = 554, message: str | None = None) -> str:
        """Refuse: a refused greeting cannot be scoped to one test on a shared sink."""
        raise RemoteError(
            "refusing connections needs the in-process sink: at connect no address is known, "
            "so the rule would hit every test sharing the sink"
        )

    def clear(self) -> None:
        """Remove this test's rules from the sink."""
        ids, self._ids = self._ids, []
        for rule_id in ids:
            try:
                self.server.send("DELETE", f"/api/v1/faults/{rule_id}")
            except RemoteError as error:
                if error.status != 404:  # used up or expired already
                    raise


class RemoteCapture:
    """One test's messages on a remote sink: those tagged with its token."""

    def __init__(self, server: RemoteServer) -> None:
        self.server = server
        self.token = new_token()
        self.query = f"tag:{self.token}"
        self.started = time.time()
        self._messages: dict[str, Message] = {}
        self._hidden: set[str] = set()

    def _fetch(self) -> None:
        """Add the messages tagged with the token that are not known yet."""
        page = self.server.get_json("/api/v1/search", {"query": self.query, "limit": PAGE})
        for item in reversed(page.get("messages") or []):
            message_id = str(item["ID"])
            if message_id in self._messages:
                continue
            quoted = urllib.parse.quote(message_id, safe="")
            _status, raw = self.server.request(f"/api/v1/message/{quoted}/raw")
            envelope = envelope_of(item)
            self._messages[message_id] = Message(
                message_id,
                _timestamp(str(item.get("Created", ""))),
                envelope,
                summarize(raw, envelope),
                raw,
                url=f"{self.server.url}/message/{quoted}",
                checks=self.server.options.check_settings(),
            )

    def messages(self) -> list[Message]:
        """Return this test's messages so far, oldest first."""
        self._fetch()
        found = [m for i, m in self._messages.items() if i not in self._hidden]
        return sorted(found, key=lambda m: (m.received_at, m.id))

    def wait(self, done: Callable[[list[Message]], bool], timeout: float) -> list[Message]:
        """Long-poll the sink until ``done(messages)`` or ``timeout``; return the messages."""
        deadline = time.monotonic() + timeout
        current = self.messages()
        while not done(current):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            params = {
                "query": self.query,
                "count": len(self._messages) + 1,
                "timeout": round(remaining, 3),
            }
            self._wait_once(params, remaining)
            current = self.messages()
        return current

    def _wait_once(self, params: dict[str, Any], remaining: float) -> None:
        """Block on the server's long poll; poll briefly on a sink that lacks it."""
        if self.server.has_wait:
            try:
                self.server.request("/api/v1/wait", params, timeout=remaining + 30)
                return
            except RemoteError as error:
                if error.status not in (404, 405):
                    raise
                self.server.has_wait = False
        time.sleep(min(POLL_SECONDS, remaining))

    def clear(self) -> None:
        """Forget this test's messages so far (nothing is deleted on the sink)."""
        self._hidden.update(m.id for m in self.messages())

    def hint(self, messages: list[Message]) -> str:
        """Explain the token isolation, naming mail that arrived without the token."""
        others: list[str] = []
        try:
            page = self.server.get_json("/api/v1/messages", {"limit": 50})
            for item in page.get("messages") or []:
                if str(item.get("ID")) in self._messages:
                    continue
                if _timestamp(str(item.get("Created", ""))) < self.started - 1:
                    break
                others.append(", ".join(envelope_of(item).rcpt_tos) or "(no recipients)")
        except RemoteError:
            pass
        text = (
            f"remote mode: a test sees only mail sent to its own addresses, made with "
            f"mailsink.address(...) (tag {self.token})"
        )
        if others:
            shown = "; ".join(others[:5])
            text += f"; {len(others)} other message(s) arrived meanwhile, to: {shown}"
        return text

    def close(self) -> None:
        """Nothing to release."""
