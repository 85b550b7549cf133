"""List-Unsubscribe validation fills ListUnsubscribe.Errors, as Mailpit does, plus RFC 8058."""

from __future__ import annotations

import pytest
from api_helpers import make_api

from mailsink.checks import parse_list_unsubscribe
from mailsink.config import Settings
from mailsink.store import MemoryStore

ONE_CLICK = "List-Unsubscribe=One-Click"


@pytest.mark.parametrize(
    ("header", "post", "links", "error"),
    [
        ("<mailto:u@example.test>, <https://example.test/u>", "", 2, ""),
        ("<https://example.test/u>", ONE_CLICK, 1, ""),
        ("<https://example.test/u> (comment)", "", 1, ""),
        ("not-a-url, <ftp://x>", "", 0, "should be enclosed in <>"),
        ("<ftp://x>", "", 0, "should start with either http(s):// or mailto:"),
        ("not-a-url", "", 0, "no valid unsubscribe links found"),
        ("<https://a.test> <https://b.test>", "", 0, "split with a comma"),
        ("<https://a.test>, <https://b.test>", "", 1, "should only contain one HTTP link"),
        ("<mailto:a@x.test>, <mailto:b@x.test>", "", 1, "should only contain one mailto:"),
        ("<a@x>, <b@x>, <c@x>", "", 0, "a maximum of one email and one HTTP link"),
        ("<https://a.test/x y>", "", 0, "should not contain spaces"),
        ("<mailto:u@example.test>", ONE_CLICK, 1, "needs an https: link"),
        ("<https://example.test/u>", "One-Click", 1, "should be exactly"),
        ("", ONE_CLICK, 0, "List-Unsubscribe is missing"),
    ],
)
def test_list_unsubscribe_rules(header: str, post: str, links: int, error: str) -> None:
    found, errors = parse_list_unsubscribe(header, post)
    assert len(found) == links
    if error:
        assert error in errors
    else:
        assert errors == ""


def test_message_json_carries_the_errors() -> None:
    api = make_api(MemoryStore(), Settings(dns=False))
    try:
        raw = (
            b"From: a@example.test\r\nTo: b@example.test\r\nSubject: s\r\n"
            b"List-Unsubscribe: not-a-url, <ftp://x>\r\n\r\nbody\r\n"
        )
        message_id = api.deliver(raw).id
        unsubscribe = api.get_json(f"/api/v1/message/{message_id}")["ListUnsubscribe"]
        assert unsubscribe["Header"] == "not-a-url, <ftp://x>"
        assert unsubscribe["Links"] == []
        assert "should be enclosed in <>" in unsubscribe["Errors"]
    finally:
        api.close()
