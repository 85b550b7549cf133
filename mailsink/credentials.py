"""HTTP basic-auth credentials: checking them (the web server) and sending them (clients).

Server side, :class:`Credentials` holds the users of ``--ui-auth USER:PASS``
(plain passwords, compared in constant time with ``hmac.compare_digest``) and
of ``--ui-auth-file`` (htpasswd lines with bcrypt hashes, ``htpasswd -B``,
checked with the ``bcrypt`` package, which is constant-time itself).  bcrypt
is deliberately slow (~50-250 ms a check at the usual costs), so a good
Authorization header is remembered, as its SHA-256, once it passed: browsers
send it with every request, the event stream and each static file included.

Client side, :func:`split_url_credentials` turns ``http://user:pass@host:8025``
into the URL without them and the ``Authorization`` header to send, which
``urllib`` does not do by itself.  Credentials never go into a log line or an
error message.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import threading
import urllib.parse
from pathlib import Path

REALM = "mailsink"
MAX_HEADER = 4096
"""Longest Authorization header looked at (longer ones are refused unread)."""
_CACHE_LIMIT = 1024


class CredentialsError(ValueError):
    """An htpasswd file that cannot be used (the message names the line, never a secret)."""


def parse_htpasswd(text: str, source: str = "htpasswd") -> dict[str, bytes]:
    """Return user -> bcrypt hash from htpasswd lines; only bcrypt (``$2y$``/``$2b$``) is taken."""
    users: dict[str, bytes] = {}
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        user, sep, hashed = line.partition(":")
        if not sep or not user:
            raise CredentialsError(f"{source} line {number}: expected USER:HASH")
        if not hashed.startswith(("$2y$", "$2b$", "$2a$")):
            raise CredentialsError(
                f"{source} line {number}: only bcrypt hashes are accepted (htpasswd -B)"
            )
        users[user] = hashed.encode()
    return users


class Credentials:
    """The users allowed in: plain passwords and bcrypt hashes; check an Authorization header."""

    def __init__(
        self, plain: tuple[tuple[str, str], ...] = (), hashed: dict[str, bytes] | None = None
    ) -> None:
        self._plain = {user: password.encode() for user, password in plain}
        self._hashed = dict(hashed or {})
        self._passed: set[bytes] = set()
        self._lock = threading.Lock()

    @classmethod
    def load(cls, plain: tuple[tuple[str, str], ...], htpasswd: str | None) -> Credentials:
        """Build from ``--ui-auth`` pairs and an ``--ui-auth-file`` path (or None)."""
        hashed: dict[str, bytes] = {}
        if htpasswd:
            try:
                text = Path(htpasswd).read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as error:
                raise CredentialsError(f"cannot read {htpasswd}: {error}") from None
            hashed = parse_htpasswd(text, htpasswd)
            if not hashed:
                raise CredentialsError(f"{htpasswd} holds no user")
        return cls(plain, hashed)

    def __bool__(self) -> bool:
        return bool(self._plain or self._hashed)

    def check(self, header: str | None) -> str | None:
        """Return the user a ``Basic`` Authorization header proves, or None."""
        decoded = _basic_token(header)
        if decoded is None:
            return None
        user_bytes, _sep, password = decoded.partition(b":")
        user = user_bytes.decode("utf-8", "replace")
        digest = hashlib.sha256(decoded).digest()
        with self._lock:
            if digest in self._passed:
                return user
        if not self._password_ok(user, password):
            return None
        with self._lock:
            if len(self._passed) >= _CACHE_LIMIT:
                self._passed.clear()
            self._passed.add(digest)
        return user

    def _password_ok(self, user: str, password: bytes) -> bool:
        expected = self._plain.get(user)
        if expected is not None:
            return hmac.compare_digest(expected, password)
        hashed = self._hashed.get(user)
        if hashed is not None:
            import bcrypt

            try:
                return bool(bcrypt.checkpw(password, hashed.replace(b"$2y$", b"$2b$", 1)))
            except ValueError:  # a malformed hash, or a password over bcrypt's 72 bytes
                return False
        # An unknown user costs a comparison too, so timing does not tell users apart.
        hmac.compare_digest(password, password)
        return False


def _basic_token(header: str | None) -> bytes | None:
    """Return the decoded ``user:password`` of a Basic Authorization header, or None."""
    if not header or len(header) > MAX_HEADER:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(token.strip(), validate=True)
    except (binascii.Error, ValueError):
        return None
    return decoded if b":" in decoded else None


def split_url_credentials(url: str) -> tuple[str, dict[str, str]]:
    """Return ``url`` without ``user:pass@`` and the headers that send them (maybe none)."""
    parts = urllib.parse.urlsplit(url)
    if parts.username is None:
        return url, {}
    user = urllib.parse.unquote(parts.username)
    password = urllib.parse.unquote(parts.password or "")
    host = parts.hostname or ""
    netloc = f"[{host}]" if ":" in host else host
    if parts.port is not None:
        netloc += f":{parts.port}"
    clean = urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, parts.query, ""))
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return clean, {"Authorization": f"Basic {token}"}
