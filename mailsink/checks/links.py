"""The link check: the HTTP status of every http(s) link and image in a message.

Mailpit's ``/link-check`` in the same shape (``Errors``, ``Links`` with ``URL``,
``StatusCode``, ``Status``).  Off unless ``--link-check``: a sink should not
make requests on mail's behalf by default, and mail content chooses the URLs.

SSRF-proof by construction: each host is resolved once, every address it
resolves to is judged (:mod:`mailsink.checks.addresses`; one refused address
refuses the host), and the connection goes to the address that was judged, so
no DNS rebinding can slip in between check and connect.  TLS still verifies
the certificate against the host name.  Redirects are followed by hand, each
hop judged the same way.  Bounded: :data:`MAX_LINKS` links, :data:`MAX_REDIRECTS`
hops, a per-request timeout, a total deadline, and at most :data:`MAX_BODY`
bytes read of a GET.  A refused address answers 451, as Mailpit does.
"""

from __future__ import annotations

import http.client
import ipaddress
import re
import socket
import ssl
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

from mailsink import __version__
from mailsink.checks.addresses import IPAddress, refusal_under

MAX_LINKS = 100
MAX_REDIRECTS = 3
MAX_BODY = 64 * 1024
REQUEST_TIMEOUT = 10.0
TOTAL_TIMEOUT = 30.0
WORKERS = 8

_TEXT_LINK = re.compile(r"(?i)(?<!<)\b(https?://[\-\w@:%_+'!.~#?,&/=;]+)")
_BRACKET_START = re.compile(r"(?i)<https?://[^>\s]")
MAX_BRACKETED = 2048
"""Longest ``<URL>`` looked for in text (RFC 2396 appendix E: URLs wrapped across lines)."""
_TRAILING = ".,;:!?'"

Resolve = Callable[[str, int], list[str]]


@dataclass(frozen=True)
class LinkPolicy:
    """Where the link check may connect, and how long it may take."""

    allow_private: bool = False
    allowed: frozenset[str] = frozenset()
    """Addresses let through whatever their range (tests use one loopback address)."""
    timeout: float = REQUEST_TIMEOUT
    total_timeout: float = TOTAL_TIMEOUT


class RefusedURLError(Exception):
    """A URL the policy does not let the check request."""


def system_resolve(host: str, port: int) -> list[str]:
    """Resolve a host name to its addresses with the system resolver."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def _parses_in_bounded_time(html: str) -> bool:
    """Tell whether the HTML is within the HTML check's limits (size, tags, nesting)."""
    from mailsink.checks.html_compat import Limits, TooLargeToCheckError, check_bounds

    try:
        check_bounds(html, Limits())
    except TooLargeToCheckError:
        return False
    return True


def _html_links(html: str, found: dict[str, None]) -> None:
    """Add the http(s) URLs of anchors, stylesheets and images, up to MAX_LINKS."""
    from selectolax.lexbor import LexborHTMLParser

    tree = LexborHTMLParser(html)
    for selector, attribute in (
        ("a[href]", "href"),
        ('link[rel="stylesheet"]', "href"),
        ("img[src]", "src"),
    ):
        for node in tree.css(selector):
            value = (node.attributes.get(attribute) or "").strip()
            if value.lower().startswith(("http://", "https://")):
                found.setdefault(value, None)
            if len(found) >= MAX_LINKS:
                return


def _text_links(text: str) -> Iterator[str]:
    """Yield the bare links of a text, then its ``<URL>`` ones (which may span lines)."""
    for match in _TEXT_LINK.finditer(text):
        yield match.group(1).rstrip(_TRAILING)
    # The closing ">" is found by hand, once per ">" rather than once per "<https://": a regex
    # would rescan the rest of the text for every "<https://" without one (quadratic).
    close = -1
    for match in _BRACKET_START.finditer(text):
        start = match.start()
        if close < start:
            close = text.find(">", start)
            if close == -1:
                return
        if close - start <= MAX_BRACKETED:
            yield text[start + 1 : close].replace("\n", "").replace("\r", "")


def extract_links(html: str, text: str) -> list[str]:
    """Return the unique http(s) links and image URLs of the HTML and text bodies."""
    found: dict[str, None] = {}
    if html and not _parses_in_bounded_time(html):
        text = f"{text}\n{html}"  # too big or deep for the parser: links found as in text
    elif html:
        _html_links(html, found)
    for link in _text_links(text[: 6 * 1024 * 1024]):
        if len(found) >= MAX_LINKS:
            break
        found.setdefault(link, None)
    return list(found)


def _pinned_connection(
    scheme: str, host: str, address: str, port: int, timeout: float
) -> http.client.HTTPConnection:
    """Return a connection to ``address`` that speaks to ``host`` (Host header, SNI, cert)."""

    class Pinned(http.client.HTTPConnection):
        def connect(self) -> None:
            self.sock = socket.create_connection((address, port), timeout)

    class PinnedTLS(http.client.HTTPSConnection):
        def connect(self) -> None:
            raw = socket.create_connection((address, port), timeout)
            context = ssl.create_default_context()
            self.sock = context.wrap_socket(raw, server_hostname=host)

    cls = PinnedTLS if scheme == "https" else Pinned
    return cls(host, port, timeout=timeout)


def _target(url: str, policy: LinkPolicy, resolve: Resolve) -> tuple[str, str, str, int, str]:
    """Judge a URL: return (scheme, host, address, port, path) or raise RefusedURLError."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        raise RefusedURLError(f"not an http(s) URL: {url[:200]}")
    if parts.username is not None or parts.password is not None:
        raise RefusedURLError("URLs with credentials are not checked")
    host = parts.hostname
    try:
        port = parts.port or (443 if scheme == "https" else 80)
    except ValueError:
        raise RefusedURLError(f"bad port in {url[:200]}") from None
    try:
        literal: IPAddress | None = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    addresses = [str(literal)] if literal is not None else resolve(host, port)
    if not addresses:
        raise RefusedURLError(f"{host} has no address")
    for text in addresses:
        why = refusal_under(ipaddress.ip_address(text), policy.allow_private, policy.allowed)
        if why is not None:
            raise RefusedURLError(f"Blocked private/reserved address ({text}: {why})")
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return scheme, host, addresses[0], port, path


def _request(method: str, url: str, policy: LinkPolicy, resolve: Resolve) -> tuple[int, str]:
    """Make one request to a judged address; return (status, Location)."""
    scheme, host, address, port, path = _target(url, policy, resolve)
    connection = _pinned_connection(scheme, host, address, port, policy.timeout)
    try:
        connection.request(method, path, headers={"User-Agent": f"mailsink/{__version__}"})
        response = connection.getresponse()
        if method == "GET":
            response.read(MAX_BODY)
        return response.status, response.getheader("Location") or ""
    finally:
        connection.close()


def check_link(url: str, follow: bool, policy: LinkPolicy, resolve: Resolve) -> dict[str, Any]:
    """Return Mailpit's Link for one URL: HEAD, then GET when HEAD is refused or fails."""
    current = url
    try:
        for _hop in range(MAX_REDIRECTS + 1):
            try:
                status, location = _request("HEAD", current, policy, resolve)
                if status >= 400:
                    status, location = _request("GET", current, policy, resolve)
            except (OSError, http.client.HTTPException):
                status, location = _request("GET", current, policy, resolve)
            if not (follow and 300 <= status < 400 and location):
                return {"URL": url, "StatusCode": status, "Status": _status_text(status)}
            current = urljoin(current, location)
        return {"URL": url, "StatusCode": 0, "Status": "too many redirects"}
    except RefusedURLError as error:
        blocked = str(error).startswith("Blocked")
        return {"URL": url, "StatusCode": 451 if blocked else 0, "Status": str(error)}
    except ssl.SSLError as error:
        return {"URL": url, "StatusCode": 0, "Status": f"TLS error: {error.reason or error}"}
    except (OSError, http.client.HTTPException, ValueError, UnicodeError) as error:
        return {"URL": url, "StatusCode": 0, "Status": _error_text(error)}


def _status_text(status: int) -> str:
    """Return the reason phrase of a status code, as Go's http.StatusText does."""
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return ""


def _error_text(error: BaseException) -> str:
    """Return a short description of a connection error."""
    if isinstance(error, socket.gaierror):
        return "no such host"
    if isinstance(error, TimeoutError | socket.timeout):
        return "timeout"
    return str(error) or type(error).__name__


def check_links(
    html: str,
    text: str,
    follow: bool = False,
    policy: LinkPolicy | None = None,
    resolve: Resolve = system_resolve,
) -> dict[str, Any]:
    """Return Mailpit's LinkCheckResponse for the links of a message."""
    policy = policy or LinkPolicy()
    links = extract_links(html, text)
    deadline = time.monotonic() + policy.total_timeout
    results: list[dict[str, Any]] = []
    # Not a with-block: its exit would wait for requests still running past the deadline.
    pool = ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="mailsink-link-check")
    try:
        futures = [pool.submit(check_link, link, follow, policy, resolve) for link in links]
        for link, future in zip(links, futures, strict=True):
            remaining = deadline - time.monotonic()
            try:
                results.append(future.result(timeout=max(remaining, 0.01)))
            except TimeoutError:
                results.append({"URL": link, "StatusCode": 0, "Status": "not checked in time"})
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    errors = sum(1 for r in results if r["StatusCode"] == 0 or r["StatusCode"] >= 400)
    return {"Errors": errors, "Links": results}
