"""The folders an IMAP login sees: ``INBOX``, and ``Tags/<tag>`` for each tag in use.

``INBOX`` holds the login's whole view (``readers.py``); ``Tags/<tag>`` the
part of it with that tag, so a mail client shows the UI's tags as folders.
They are views of the same messages, not copies: a message deleted in a tag
folder is deleted from the store.  Tags whose names are not plain printable
ASCII, or contain the hierarchy separator or a wildcard, get no folder (IMAP
would need modified UTF-7 for them).
"""

from __future__ import annotations

import re

from mailsink.readers import View
from mailsink.search import Query, Term

PARENT = "Tags"
SEPARATOR = "/"
_PLAIN = re.compile(r"[ !#-$&-)+-.0-~]{1,100}")
"""Printable ASCII without ", %, *, / and \\ (so no quoting trouble and no wildcards)."""


def folder_names(tags: list[str]) -> list[str]:
    """Return every selectable folder name for these tags, INBOX first."""
    return ["INBOX"] + [f"{PARENT}{SEPARATOR}{tag}" for tag in tags if _PLAIN.fullmatch(tag)]


def folder_view(login: View, name: str, tags: list[str]) -> View | None:
    """Return the view a folder name selects for this login, or None if there is no such folder."""
    if name.upper() == "INBOX":
        return login
    prefix = PARENT + SEPARATOR
    if not name.lower().startswith(prefix.lower()):
        return None
    wanted = name[len(prefix) :].lower()
    if not any(t.lower() == wanted and _PLAIN.fullmatch(t) for t in tags):
        return None
    terms = (*(login.query.terms if login.query else ()), Term("tag", wanted))
    return View(login.user, Query(terms))


def list_pattern(reference: str, pattern: str) -> re.Pattern[str]:
    """Compile a LIST reference + pattern (``*`` any, ``%`` any but the separator)."""
    parts = []
    for char in reference + pattern:
        if char == "*":
            parts.append(".*")
        elif char == "%":
            parts.append(f"[^{SEPARATOR}]*")
        else:
            parts.append(re.escape(char))
    return re.compile("".join(parts), re.IGNORECASE)
