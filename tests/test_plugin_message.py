"""Message objects and matching, on raw bytes alone (no server)."""

from __future__ import annotations

import re

import pytest

from mailsink.message import Envelope, summarize
from mailsink.pytest_plugin.matching import check_criteria, explain, mismatches
from mailsink.pytest_plugin.message import Message
from mailsink.pytest_plugin.remote import envelope_of

RAW = (
    b"From: =?utf-8?q?J=C3=BCrgen?= <jurgen@example.test>\r\n"
    b"To: Ann <ann@example.test>\r\n"
    b"Cc: cc@example.test\r\n"
    b"Reply-To: help@example.test\r\n"
    b"Subject: Your code\r\n"
    b"X-Tag: one\r\n"
    b"X-Tag: two\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"\r\n"
    b"Code 123456 expires 2030-01-01; see <https://a.test/x?y=1>, (https://b.test/z).\r\n"
)


def make(raw: bytes = RAW, rcpts: tuple[str, ...] = ("ann@example.test",)) -> Message:
    """Return a Message as the in-process backend builds it."""
    envelope = Envelope("bounce@example.test", rcpts)
    return Message("ID1", 1_700_000_000.0, envelope, summarize(raw, envelope), raw)


def test_fields_are_decoded_and_addresses_are_plain() -> None:
    message = make()
    assert message.from_ == "jurgen@example.test"
    assert message.summary.from_ is not None and message.summary.from_.name == "Jürgen"
    assert message.to == ["ann@example.test"]
    assert message.cc == ["cc@example.test"]
    assert message.reply_to == ["help@example.test"]
    assert message.sender == "bounce@example.test"
    assert message.headers["x-tag"] == "one"
    assert message.headers.get_all("X-TAG") == ["one", "two"]
    assert message.received.year == 2023


def test_links_in_plain_text_drop_surrounding_punctuation() -> None:
    assert make().links() == ["https://a.test/x?y=1", "https://b.test/z"]


def test_link_without_a_match_lists_the_links() -> None:
    with pytest.raises(AssertionError, match=r"found 0; its links:\n  https://a.test/x\?y=1"):
        make().link(matching=re.compile("nowhere"))


def test_code_ignores_longer_numbers_and_extract_reports_misses() -> None:
    assert make().code() == "123456"
    assert make().code(digits=4) == "2030"
    with pytest.raises(AssertionError, match=r"no match for 'token=\(\\\\w\+\)'"):
        make().extract(r"token=(\w+)")


def test_a_raising_predicate_is_a_mismatch_not_an_error() -> None:
    failed = mismatches(make(), {"where": lambda m: m.headers["Missing"] == "x"})
    assert [f.field for f in failed] == ["where"]


def test_mismatch_text_names_field_wanted_and_got() -> None:
    failed = mismatches(make(), {"cc": "other@example.test", "header": {"X-Tag": "three"}})
    assert [str(f) for f in failed] == [
        "cc: expected 'other@example.test', got ['cc@example.test']",
        "header X-Tag: expected 'three', got ['one', 'two']",
    ]


def test_bad_criteria_are_type_errors() -> None:
    with pytest.raises(TypeError, match="has_attachment takes True or False"):
        check_criteria({"has_attachment": "yes"})
    with pytest.raises(TypeError, match="header takes a mapping"):
        check_criteria({"header": "X-Tag: one"})


def test_explain_without_mail_says_so() -> None:
    text = explain("headline", [], {"to": "x@example.test"}, "http://ui/", "a hint")
    assert text == "headline\nthis test captured no mail at all\na hint\nweb UI: http://ui/"


def test_envelope_falls_back_to_headers_for_mailpit_summaries() -> None:
    summary = {"From": {"Address": "a@x.test"}, "To": [{"Address": "b@x.test"}], "Bcc": []}
    assert envelope_of(summary) == Envelope("a@x.test", ("b@x.test",))
