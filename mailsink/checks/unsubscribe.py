"""List-Unsubscribe validation, as Mailpit does it, plus RFC 8058 one-click.

Mailpit's rules (``internal/tools/listunsubscribeparser.go``): the value is a
comma-separated list of ``<URI>`` (comments in parentheses stripped), at most
one ``mailto:`` and one ``http(s)://`` link, no spaces inside the brackets.
RFC 8058 one-click adds: ``List-Unsubscribe-Post`` must be exactly
``List-Unsubscribe=One-Click`` and needs an ``https:`` link in
``List-Unsubscribe`` beside it.  ``Errors`` is one string, as in Mailpit.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

MAX_HEADER = 8 * 1024

# Each class also stops at its own opening character, so no pattern rescans the rest of
# a hostile header for every "<" or "(" (which would be quadratic).
_BRACKETED = re.compile(r"<([^<>]*)>")
_COMMENTS = re.compile(r"\([^()]*\)", re.S)
_JOINS = re.compile(r">([^<>]*)<", re.S)
_MAILTO = re.compile(r"^mailto:[a-zA-Z0-9]")
_HTTP = re.compile(r"^https?://[a-zA-Z0-9]", re.I)


def _uri_error(uri: str) -> str:
    """Return why a bracketed URI is not usable, '' when it is."""
    if re.search(r"\s", uri):
        return f'"{uri}" should not contain spaces'
    parts = urlsplit(uri)
    if parts.scheme.lower() == "mailto":
        return "" if parts.path else f'"{uri}" has no address'
    if not parts.hostname:
        return f'"{uri}" has no host'
    return ""


def parse_list_unsubscribe(header: str, post: str = "") -> tuple[list[str], str]:
    """Return (links, errors) for a List-Unsubscribe value and its -Post companion."""
    value = _COMMENTS.sub("", header[:MAX_HEADER]).strip()
    links: list[str] = []
    errors: list[str] = []
    if not value:
        if post:
            errors.append("List-Unsubscribe-Post is set but List-Unsubscribe is missing")
        return links, ", ".join(errors)
    if not _BRACKETED.search(value):
        return links, f'"{value}" no valid unsubscribe links found'
    if not (value.startswith("<") and value.endswith(">")):
        return links, f'"{value}" should be enclosed in <>'
    uris = _BRACKETED.findall(value)
    if len(uris) > 2:
        errors.append(f'"{value}" should include a maximum of one email and one HTTP link')
        uris = []
    elif any(join.strip() != "," for join in _JOINS.findall(value)):
        return links, f'"{value}" <> should be split with a comma and optional spaces'
    _check_uris(uris, links, errors)
    errors += _one_click_errors(post, links)
    return links, ", ".join(errors)


def _check_uris(uris: list[str], links: list[str], errors: list[str]) -> None:
    """Add the usable URIs to links and the problems of the others to errors."""
    kinds: set[str] = set()
    for uri in uris:
        kind = "mailto" if _MAILTO.match(uri) else "http" if _HTTP.match(uri) else ""
        if not kind:
            errors.append(f'"{uri}" should start with either http(s):// or mailto:')
            continue
        if kind in kinds:
            label = "mailto:" if kind == "mailto" else "HTTP link"
            errors.append(f'"{uri}" should only contain one {label}')
            continue
        kinds.add(kind)
        problem = _uri_error(uri)
        if problem:
            errors.append(problem)
            continue
        links.append(uri)


def _one_click_errors(post: str, links: list[str]) -> list[str]:
    """Return RFC 8058 problems with List-Unsubscribe-Post."""
    if not post:
        return []
    errors = []
    if post.strip() != "List-Unsubscribe=One-Click":
        errors.append(
            f'List-Unsubscribe-Post "{post[:200]}" should be exactly '
            '"List-Unsubscribe=One-Click" (RFC 8058)'
        )
    if not any(link.lower().startswith("https://") for link in links):
        errors.append("one-click unsubscribe (RFC 8058) needs an https: link in List-Unsubscribe")
    return errors
