"""What POP3 and IMAP share: who may log in, and which mail a login sees.

Authentication follows SMTP's: with ``--auth`` only those (user, password)
pairs are accepted; without it any user and password are.  The user name
then picks the mailbox (a "view"), so that each developer or test gets its
own mailbox on one shared sink without configuring any:

* ``ann@example.test`` (a name with an ``@``) sees the mail addressed to
  that address: To, Cc, or Bcc (the envelope recipients not in a header),
  matched as a whole address, case-insensitively (also From and Reply-To,
  as the search language's ``addressed:=`` does);
* ``tag:<token>`` sees the mail with that tag;
* any other name sees everything.
"""

from __future__ import annotations

import hmac
import ssl
from dataclasses import dataclass
from typing import TYPE_CHECKING

from mailsink.search import Query, Term

if TYPE_CHECKING:
    from mailsink.mailbox import Mailbox

MAX_CREDENTIAL = 1024
"""The longest user name or password looked at (longer ones are refused)."""


@dataclass(frozen=True, slots=True)
class View:
    """The mail one login sees: a search query, or everything when it is None."""

    user: str
    query: Query | None

    @property
    def label(self) -> str:
        """Return a short description for greetings and logs (never the password)."""
        return self.user if self.query is not None else "all mail"


def view_for(user: str) -> View:
    """Return the view a user name selects (see the module docstring)."""
    name = user.strip()
    if name.lower().startswith("tag:") and name[4:].strip():
        return View(name, Query((Term("tag", name[4:].strip().lower()),)))
    if "@" in name and " " not in name:
        return View(name, Query((Term("addressed", name.lower(), exact=True),)))
    return View(name, None)


class Credentials:
    """Check a user name and password against ``--auth`` (any pair when none are set)."""

    def __init__(self, users: tuple[tuple[str, str], ...]) -> None:
        self._users = dict(users)

    def check(self, user: str, password: str) -> View | None:
        """Return the user's view if the credentials are good, else None."""
        if not user or len(user) > MAX_CREDENTIAL or len(password) > MAX_CREDENTIAL:
            return None
        if self._users:
            expected = self._users.get(user)
            if expected is None or not hmac.compare_digest(
                expected.encode("utf-8", "surrogatepass"), password.encode("utf-8", "surrogatepass")
            ):
                return None
        return view_for(user)


def sasl_plain(data: bytes) -> tuple[str, str] | None:
    """Decode a SASL PLAIN response (``authzid NUL authcid NUL password``), or None."""
    parts = data.split(b"\0")
    if len(parts) != 3:
        return None
    try:
        user = parts[1].decode("utf-8")
        password = parts[2].decode("utf-8")
    except UnicodeDecodeError:
        return None
    return (user, password) if user else None


@dataclass(frozen=True)
class ReaderContext:
    """What every POP3 and IMAP session needs: the mailbox, limits, TLS and credentials."""

    mailbox: Mailbox
    credentials: Credentials
    tls_context: ssl.SSLContext | None
    """The context STARTTLS/STLS upgrade with; None when they are not offered."""
    hostname: str = "mailsink"
    """The name in the greetings (``--hostname``, as SMTP's)."""
    idle_timeout: float = 1800.0
