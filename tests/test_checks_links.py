"""The link check is SSRF-proof: every refused range gets zero requests, redirects included.

A counting HTTP server on loopback stands behind each refused URL (as an IP
literal in every IPv4-in-IPv6 form, or a name resolved to it); the check must
answer 451 and the server must count zero hits.  Names that resolve to other
private ranges use an injected resolver, so no test ever sends a packet
beyond loopback.  The control tests let exactly one loopback address through
and see the hits arrive.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from api_helpers import make_api

from mailsink.checks.links import LinkPolicy, check_link, check_links, extract_links
from mailsink.config import Settings
from mailsink.store import MemoryStore


class Counting(ThreadingHTTPServer):
    """An HTTP server that counts requests; HEAD can answer 405; paths can redirect."""

    daemon_threads = True

    def __init__(self, host: str) -> None:
        super().__init__((host, 0), Handler)
        self.hits = 0
        self.head_status = 200
        self.redirect_to = ""

    @property
    def port(self) -> int:
        return int(self.server_address[1])


class Handler(BaseHTTPRequestHandler):
    server: Counting

    def _answer(self, head: bool) -> None:
        self.server.hits += 1
        if self.server.redirect_to and self.path == "/go":
            self.send_response(302)
            self.send_header("Location", self.server.redirect_to)
        elif head and self.server.head_status != 200:
            self.send_response(self.server.head_status)
        else:
            self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_HEAD(self) -> None:
        self._answer(True)

    def do_GET(self) -> None:
        self._answer(False)

    def log_message(self, format: str, *args: object) -> None:
        pass


def _serve(host: str) -> Iterator[Counting]:
    server = Counting(host)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(5)


@pytest.fixture
def target() -> Iterator[Counting]:
    """A counting server on 127.0.0.1."""
    yield from _serve("127.0.0.1")


@pytest.fixture
def other() -> Iterator[Counting]:
    """A second counting server on 127.0.0.2 (loopback too, never let through)."""
    yield from _serve("127.0.0.2")


FAKE_DNS = {
    "private.test": ["10.0.0.1"],
    "private172.test": ["172.16.5.4"],
    "private192.test": ["192.168.1.1"],
    "cgnat.test": ["100.64.0.1"],
    "metadata.test": ["169.254.169.254"],
    "multicast.test": ["224.0.0.1"],
    "reserved.test": ["240.0.0.1"],
    "unique-local.test": ["fd00::1"],
    "link-local6.test": ["fe80::1"],
    "mapped.test": ["::ffff:10.0.0.1"],
    # One refused address refuses the host: the public one is never tried either.
    "mixed.test": ["93.184.216.34", "127.0.0.1"],
}


def fake_resolve(host: str, port: int) -> list[str]:
    from mailsink.checks.links import system_resolve

    return FAKE_DNS.get(host) or system_resolve(host, port)


LOOPBACK_FORMS = [
    "127.0.0.1",
    "localhost",
    "[::1]",
    "0.0.0.0",
    "2130706433",  # 127.0.0.1 as one decimal number
    "0x7f.1",  # and in hex shorthand
    "[::ffff:127.0.0.1]",  # IPv4-mapped
    "[::ffff:7f00:1]",
    "[::127.0.0.1]",  # IPv4-compatible
    "[2002:7f00:1::]",  # 6to4
    "[64:ff9b::7f00:1]",  # NAT64 well-known prefix
    "[64:ff9b:1::7f00:1]",  # NAT64 local-use prefix
    "[2001:0:4136:e378:8000:63bf:80ff:fffe]",  # Teredo, client 127.0.0.1 (XORed)
    "[2a00::5efe:7f00:1]",  # ISATAP interface identifier
]


@pytest.mark.parametrize("host", LOOPBACK_FORMS)
def test_every_form_of_a_loopback_address_is_refused_with_zero_hits(
    target: Counting, host: str
) -> None:
    result = check_link(f"http://{host}:{target.port}/", True, LinkPolicy(), fake_resolve)
    assert result["StatusCode"] == 451, result
    assert "Blocked private/reserved address" in result["Status"]
    assert target.hits == 0


@pytest.mark.parametrize("name", sorted(FAKE_DNS))
def test_names_resolving_into_refused_ranges_are_refused(target: Counting, name: str) -> None:
    result = check_link(f"http://{name}:{target.port}/", True, LinkPolicy(), fake_resolve)
    assert result["StatusCode"] == 451, result
    assert target.hits == 0


def test_the_one_allowed_address_is_reached_so_the_counter_counts(target: Counting) -> None:
    policy = LinkPolicy(allowed=frozenset({"127.0.0.1"}))
    result = check_link(f"http://127.0.0.1:{target.port}/page", False, policy, fake_resolve)
    assert result == {"URL": f"http://127.0.0.1:{target.port}/page", "StatusCode": 200,
                      "Status": "OK"}  # fmt: skip
    assert target.hits == 1


@pytest.mark.parametrize("form", ["127.0.0.2", "[::ffff:127.0.0.2]", "[2002:7f00:2::]"])
def test_a_redirect_into_a_refused_range_is_refused_before_connecting(
    target: Counting, other: Counting, form: str
) -> None:
    target.redirect_to = f"http://{form}:{other.port}/secret"
    policy = LinkPolicy(allowed=frozenset({"127.0.0.1"}))
    result = check_link(f"http://127.0.0.1:{target.port}/go", True, policy, fake_resolve)
    assert result["StatusCode"] == 451, result
    assert target.hits >= 1
    assert other.hits == 0


def test_without_follow_the_redirect_status_is_the_answer(target: Counting) -> None:
    target.redirect_to = "http://10.0.0.1/"
    policy = LinkPolicy(allowed=frozenset({"127.0.0.1"}))
    result = check_link(f"http://127.0.0.1:{target.port}/go", False, policy, fake_resolve)
    assert result["StatusCode"] == 302
    assert result["Status"] == "Found"


def test_a_head_refused_with_405_is_retried_with_get(target: Counting) -> None:
    target.head_status = 405
    policy = LinkPolicy(allowed=frozenset({"127.0.0.1"}))
    result = check_link(f"http://127.0.0.1:{target.port}/", False, policy, fake_resolve)
    assert result["StatusCode"] == 200
    assert target.hits == 2


def test_allow_private_lets_loopback_through_but_never_multicast(target: Counting) -> None:
    policy = LinkPolicy(allow_private=True)
    assert (
        check_link(f"http://127.0.0.1:{target.port}/", False, policy, fake_resolve)["StatusCode"]
        == 200
    )
    assert check_link("http://multicast.test/", False, policy, fake_resolve)["StatusCode"] == 451


def test_links_come_from_anchors_images_stylesheets_and_text_once_each() -> None:
    html = (
        '<a href="https://a.example/x">a</a><a href="mailto:x@y">m</a><a href="#top">t</a>'
        '<img src="https://img.example/p.png"><link rel="stylesheet" href="http://css.example/s">'
        '<a href="https://a.example/x">again</a>'
    )
    text = "See https://a.example/x, or <https://long.example/a\n/b> and http://t.example/p."
    assert extract_links(html, text) == [
        "https://a.example/x",
        "http://css.example/s",
        "https://img.example/p.png",
        "http://t.example/p",
        "https://long.example/a/b",
    ]


def test_check_links_counts_errors(target: Counting) -> None:
    html = f'<a href="http://127.0.0.1:{target.port}/ok">ok</a><a href="http://10.1.2.3/">x</a>'
    result = check_links(html, "", policy=LinkPolicy(allowed=frozenset({"127.0.0.1"})))
    assert result["Errors"] == 1
    assert [link["StatusCode"] for link in result["Links"]] == [200, 451]


def _message(html: str) -> bytes:
    msg = EmailMessage()
    msg["From"] = "a@example.test"
    msg["To"] = "b@example.test"
    msg["Subject"] = "links"
    msg.set_content("text")
    msg.add_alternative(html, subtype="html")
    return msg.as_bytes()


def test_link_check_is_a_403_unless_enabled(target: Counting) -> None:
    api = make_api(MemoryStore(), Settings(dns=False))
    try:
        message_id = api.deliver(_message(f'<a href="http://127.0.0.1:{target.port}/">x</a>')).id
        body = api.get_json(f"/api/v1/message/{message_id}/link-check", status=403)
        assert "--link-check" in body["Error"]
        assert target.hits == 0
    finally:
        api.close()


def test_link_check_over_the_api_with_private_addresses_allowed(target: Counting) -> None:
    settings = Settings(dns=False, link_check=True, link_check_allow_private=True)
    api = make_api(MemoryStore(), settings)
    try:
        url = f"http://127.0.0.1:{target.port}/"
        message_id = api.deliver(_message(f'<a href="{url}">x</a>')).id
        body = api.get_json(f"/api/v1/message/{message_id}/link-check?follow=true")
        assert body == {"Errors": 0, "Links": [{"URL": url, "StatusCode": 200, "Status": "OK"}]}
        assert target.hits == 1
    finally:
        api.close()


def test_link_check_over_the_api_refuses_loopback_by_default(target: Counting) -> None:
    api = make_api(MemoryStore(), Settings(dns=False, link_check=True))
    try:
        url = f"http://127.0.0.1:{target.port}/"
        message_id = api.deliver(_message(f'<a href="{url}">x</a>')).id
        body = api.get_json(f"/api/v1/message/{message_id}/link-check")
        assert body["Errors"] == 1
        assert body["Links"][0]["StatusCode"] == 451
        assert target.hits == 0
    finally:
        api.close()


def test_links_of_html_too_deep_to_parse_are_found_as_in_text() -> None:
    import time

    html = "<div>" * 100_000 + '<a href="https://deep.example/x">x</a>'
    started = time.perf_counter()
    assert extract_links(html, "") == ["https://deep.example/x"]
    assert time.perf_counter() - started < 2
