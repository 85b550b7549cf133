"""Hostile input never crashes a check: only the checks' own, documented errors come out."""

from __future__ import annotations

import contextlib

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mailsink.checks import TooLargeToCheckError, auth_check, parse_list_unsubscribe
from mailsink.checks.dns import DnsRecordsError, parse_records
from mailsink.checks.html_compat import check_html
from mailsink.checks.links import extract_links
from mailsink.config import Settings
from mailsink.message import Envelope

OFFLINE = Settings(dns=False)
HTMLISH = st.text(alphabet=st.sampled_from(list("<>/=\"' abdivstyle:;{}()@#!-0123456789p\n")))
HEADERS = st.sampled_from(
    [
        b"DKIM-Signature: ",
        b"ARC-Seal: ",
        b"ARC-Message-Signature: ",
        b"ARC-Authentication-Results: ",
        b"From: ",
        b"X: ",
    ]
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(HTMLISH)
def test_any_html_gets_an_answer_or_too_large(html: str) -> None:
    try:
        result = check_html(html)
    except TooLargeToCheckError:
        return
    assert 0 <= result["Total"]["Supported"] <= 100
    extract_links(html, html)


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=300), st.text(max_size=60))
def test_any_list_unsubscribe_gets_links_and_errors(header: str, post: str) -> None:
    links, errors = parse_list_unsubscribe(header, post)
    assert isinstance(links, list)
    assert isinstance(errors, str)


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=300))
def test_any_records_file_parses_or_says_which_line(text: str) -> None:
    try:
        parse_records(text)
    except DnsRecordsError as error:
        assert "line" in str(error)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(HEADERS, st.binary(max_size=120)), max_size=6), st.binary(max_size=200))
def test_any_message_gets_auth_verdicts(headers: list[tuple[bytes, bytes]], body: bytes) -> None:
    raw = b"".join(name + value.replace(b"\n", b" ") + b"\r\n" for name, value in headers)
    raw += b"\r\n" + body
    report = auth_check(raw, Envelope("a@b.example", (), "h", "127.0.0.1:1"), OFFLINE)
    names = {"pass", "fail", "softfail", "neutral", "none", "temperror", "permerror"}
    assert report.dkim in names
    assert {report.arc.result, report.spf.result, report.dmarc.result} <= names
    report.to_json()


def _quick(work: object) -> None:
    """Run work (a check may refuse the input as too large) and see it end within 3 s."""
    import time

    started = time.perf_counter()
    assert callable(work)
    with contextlib.suppress(TooLargeToCheckError):
        work()
    assert time.perf_counter() - started < 3.0


def test_no_pattern_rescans_hostile_text_quadratically() -> None:
    from mailsink.checks.html_compat import Limits, check_bounds

    _quick(lambda: extract_links("", "<https://a" * 300_000))  # "<URL" never closed
    _quick(lambda: parse_list_unsubscribe("<" * 8192, ""))
    _quick(lambda: parse_list_unsubscribe("(" * 8192, ""))
    _quick(lambda: parse_list_unsubscribe("<a>" + ">" * 8000 + "<b>", ""))
    _quick(lambda: check_bounds("<div " * 90_000, Limits()))  # no ">": too deep, at once
    _quick(lambda: check_html("<p " * 90_000))
