"""The HTML check: Mailpit's response shape, real features found, and hostile input refused fast."""

from __future__ import annotations

import time
from email.message import EmailMessage
from typing import Any

import pytest
from api_helpers import make_api

from mailsink.checks.html_compat import (
    Limits,
    TooLargeToCheckError,
    caniemail,
    check_html,
    platforms,
)
from mailsink.config import Settings
from mailsink.store import MemoryStore

NEWSLETTER_HEAD = """<!doctype html><html><head><meta charset="utf-8"><style>
body { margin: 0; font-family: system-ui, Arial }
.btn { border-radius: 4px; background: linear-gradient(#fff, #000); display: flex; padding: 1rem }
a:hover { color: rgb(1, 2, 3) !important }
@media (prefers-color-scheme: dark) { .card { background-color: #000 } }
</style></head><body>"""
CARD = """<table class="card" width="600" bgcolor="#ffffff">
<tr><td style="padding:10px;max-width:600px">
<h2 style="margin:0">Story</h2><p style="line-height:1.5">Lorem ipsum dolor sit amet.</p>
<a class="btn" href="https://example.com/story">Read more</a>
<img src="https://example.com/a.webp" width="100" alt=""></td></tr></table>
"""


def newsletter(size: int = 100_000) -> str:
    """Return an HTML newsletter of about ``size`` bytes."""
    cards = CARD * max(1, (size - len(NEWSLETTER_HEAD)) // len(CARD))
    return NEWSLETTER_HEAD + cards + "<script>track()</script></body></html>"


def _slugs(result: dict[str, Any]) -> dict[str, int]:
    return {w["Slug"]: w["Score"]["Found"] for w in result["Warnings"]}


def test_the_answer_has_mailpits_shape() -> None:
    result = check_html(newsletter(5_000))
    assert set(result) == {"Warnings", "Platforms", "Total"}
    assert set(result["Total"]) == {"Nodes", "Tests", "Supported", "Partial", "Unsupported"}
    warning = next(w for w in result["Warnings"] if w["Slug"] == "css-display-flex")
    assert set(warning) == {
        "Slug", "Title", "Description", "URL", "Category", "Tags", "Keywords", "Results",
        "NotesByNumber", "Score",
    }  # fmt: skip
    assert warning["URL"].startswith("https://www.caniemail.com/features/")
    assert set(warning["Results"][0]) == {
        "Name", "Platform", "Family", "Version", "Support", "NoteNumber",
    }  # fmt: skip
    assert {r["Support"] for r in warning["Results"]} <= {"yes", "no", "partial"}
    assert "Gmail" in result["Platforms"]["android"]
    total = result["Total"]
    assert total["Supported"] + total["Partial"] + total["Unsupported"] == pytest.approx(100)


def test_css_features_are_found_in_sheets_attributes_and_values() -> None:
    html = newsletter(5_000)
    found = _slugs(check_html(html))
    cards = html.count('class="btn"')
    for slug in ("css-display-flex", "css-linear-gradient", "css-border-radius", "css-unit-rem"):
        assert found[slug] == cards  # each .btn element
    assert found["css-pseudo-class-hover"] == 1
    assert found["css-important"] == 1
    assert found["css-rgb"] == 1
    assert found["css-at-media-prefers-color-scheme"] == 1
    assert found["css-sytem-ui"] == 1  # (sic: caniemail's slug)
    assert found["css-max-width"] == cards
    assert found["css-background-color"] >= 1  # the bgcolor attribute
    assert found["image-webp"] == cards
    assert found["html-script"] == 1
    assert "html-body" in found


def test_a_plain_fragment_has_few_warnings() -> None:
    result = check_html("<p>Hello <b>world</b></p>")
    assert result["Warnings"] == []
    assert result["Total"]["Supported"] == 100
    assert result["Total"]["Nodes"] == 2


def test_a_100kb_newsletter_is_checked_quickly() -> None:
    started = time.perf_counter()
    result = check_html(newsletter(100_000))
    elapsed = time.perf_counter() - started
    assert result["Total"]["Nodes"] > 1000
    assert elapsed < 2.0  # measured: about 0.05 s


@pytest.mark.parametrize(
    ("html", "message"),
    [
        ("<p>" + "x" * (6 * 1024 * 1024) + "</p>", "bytes"),
        ("<i>x</i>" * 120_000, "tags"),
        ("<div>" * 100_000 + "x" + "</div>" * 100_000, "nested"),
        ("<ul><li>" * 5_000, "nested"),
    ],
)
def test_hostile_html_is_too_large_to_check_and_answers_fast(html: str, message: str) -> None:
    started = time.thread_time()  # CPU, not wall: a loaded machine must not fail it
    with pytest.raises(TooLargeToCheckError, match=message):
        check_html(html)
    assert time.thread_time() - started < 1.0


def test_a_check_past_its_time_limit_is_too_large() -> None:
    with pytest.raises(TooLargeToCheckError, match="longer than"):
        check_html(newsletter(50_000), Limits(time_limit=0.0))


def test_every_slug_the_check_looks_for_is_in_the_data_set() -> None:
    from mailsink.checks.css_features import AT_RULES, DISPLAY_VALUES, FUNCTIONS, MEDIA_FEATURES
    from mailsink.checks.html_compat import HTML_TESTS, IMAGE_TESTS, STYLE_ATTRIBUTES

    known = caniemail()["by_slug"]
    wanted = {*HTML_TESTS, *IMAGE_TESTS, *STYLE_ATTRIBUTES, *AT_RULES.values()}
    wanted |= {*DISPLAY_VALUES.values(), *FUNCTIONS.values(), *MEDIA_FEATURES.values()}
    assert sorted(wanted - set(known)) == []
    assert platforms()


def _message(html: str | None) -> bytes:
    msg = EmailMessage()
    msg["From"] = "a@example.test"
    msg["To"] = "b@example.test"
    msg["Subject"] = "html"
    msg.set_content("text")
    if html is not None:
        msg.add_alternative(html, subtype="html")
    return msg.as_bytes()


def test_html_check_over_the_api() -> None:
    api = make_api(MemoryStore(), Settings(dns=False))
    try:
        with_html = api.deliver(_message(newsletter(3_000))).id
        body = api.get_json(f"/api/v1/message/{with_html}/html-check")
        assert body["Total"]["Tests"] > 0
        assert api.get_json("/api/v1/message/latest/html-check") == body
        text_only = api.deliver(_message(None)).id
        error = api.get_json(f"/api/v1/message/{text_only}/html-check", status=400)
        assert error["Error"] == "message does not contain HTML"
        deep = api.deliver(_message("<div>" * 5_000)).id
        error = api.get_json(f"/api/v1/message/{deep}/html-check", status=422)
        assert "too deeply nested to check" in error["Error"]
    finally:
        api.close()
