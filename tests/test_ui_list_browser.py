"""The list pane in Chromium: paging closes the open message, refused searches, toolbar fit."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from mailsink.config import Settings
from mailsink.message import Envelope, new_id, summarize
from mailsink.server import Sink
from mailsink.store.base import Incoming

pytest_plugins = ["conftest_browser"]
pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1440, "height": 900}


def open_ui(page: Page, sink: Sink, path: str = "/") -> None:
    """Open the UI and wait until its live event stream is connected."""
    page.goto(f"{sink.web_url}{path}")
    expect(page.locator("#live")).to_have_class(re.compile(r"\bon\b"))


def rows(page: Page) -> Any:
    """Return the list rows."""
    return page.locator("#list > li.row")


def box(page: Page, selector: str) -> dict[str, float]:
    """Return an element's bounding box, failing the test if it is not rendered."""
    found = page.locator(selector).bounding_box()
    assert found is not None, selector
    return {key: float(found[key]) for key in ("x", "y", "width", "height")}


def assert_toolbar_fits(page: Page) -> None:
    """The list toolbar is one line, inside the list pane, with every child visible in it."""
    pane = box(page, "#list-pane")
    bar = box(page, ".list-toolbar")
    counts = box(page, "#counts")
    assert bar["x"] + bar["width"] <= pane["x"] + pane["width"] + 0.5
    for selector in ("#mark-all-read", "#delete-all"):
        button = box(page, selector)
        assert abs(button["y"] - box(page, "#mark-all-read")["y"]) < 1, selector  # same line
        assert abs(button["y"] + button["height"] / 2 - (counts["y"] + counts["height"] / 2)) < 2
        assert button["x"] + button["width"] <= bar["x"] + bar["width"] + 0.5, selector
        assert button["x"] >= counts["x"] + counts["width"], selector
    # Nothing is clipped at these sizes: the texts show whole.
    clipped = page.evaluate(
        "['#counts', '#mark-all-read', '#delete-all'].filter("
        "(s) => { const e = document.querySelector(s); return e.scrollWidth > e.clientWidth; })"
    )
    assert clipped == []
    assert bar["height"] < 44


def incoming(i: int) -> Incoming:
    """Return stored-mail input for plain message number i."""
    raw = (
        f"From: Sender <sender{i % 7}@example.test>\r\nTo: user{i}@example.test\r\n"
        f"Subject: Bulk {i}\r\nMessage-ID: <bulk-{i}@example.test>\r\n\r\nbody {i}\r\n"
    ).encode()
    envelope = Envelope(f"sender{i % 7}@example.test", (f"user{i}@example.test",), helo="test")
    return Incoming(new_id(), time.time() - 20_000 + i, raw, envelope, summarize(raw, envelope))


@pytest.fixture(scope="module")
def big_sink() -> Iterator[Sink]:
    """Run a sink holding 10,000 messages, 5 of them read (filled through the mailbox)."""
    sink = Sink(Settings(smtp_port=0, http_port=0, tls=False)).start()
    for first in range(0, 10_000, 1000):
        sink.mailbox.add([incoming(i) for i in range(first, first + 1000)])
    sink.mailbox.set_read([m.id for m in sink.store.list(0, 5).items], True)
    yield sink
    sink.stop()


def test_paging_closes_the_message_of_the_previous_page(
    page: Page, ui_sink: Sink, mailer: Any, screenshot: Any
) -> None:
    page.set_viewport_size(DESKTOP)  # type: ignore[arg-type]
    mailer.send_many(60, prefix="Bulk")
    open_ui(page, ui_sink)
    rows(page).first.locator("a").click()
    expect(page.locator("#m-subject")).to_have_text("Bulk 059")
    page.click("#older")
    expect(rows(page)).to_have_count(10)
    expect(page.locator("#message-pane")).to_be_hidden()
    expect(page.locator("#placeholder")).to_be_visible()
    assert "/message/" not in page.url and "start=50" in page.url
    screenshot(page, "list-paged-desktop")
    page.go_back()  # history still leads back to the open message
    expect(page.locator("#m-subject")).to_have_text("Bulk 059")
    expect(rows(page).first).to_have_class(re.compile(r"\bselected\b"))


def test_a_refused_search_shows_its_error_and_disables_bulk_actions(
    page: Page, ui_sink: Sink, mailer: Any, screenshot: Any
) -> None:
    mailer.send_many(3)
    open_ui(page, ui_sink)
    expect(page.locator("#mark-all-read")).to_be_enabled()
    page.fill("#search", "larger:lots")
    page.press("#search", "Enter")
    error = page.locator("#query-error")
    expect(error).to_be_visible()
    expect(error).to_contain_text("larger")
    pane = box(page, "#list-pane")
    shown = box(page, "#query-error")
    assert pane["x"] <= shown["x"] < pane["x"] + pane["width"]  # in the list area
    expect(rows(page)).to_have_count(0)
    expect(page.locator("#no-results")).to_be_hidden()
    expect(page.locator("#mark-all-read")).to_be_disabled()
    expect(page.locator("#delete-all")).to_be_disabled()
    expect(page.locator("#counts")).to_have_text("Invalid search · 3")
    expect(page.locator("#search")).to_have_attribute("aria-invalid", "true")
    screenshot(page, "list-query-error-desktop")
    page.fill("#search", "Message")
    page.press("#search", "Enter")
    expect(rows(page)).to_have_count(3)
    expect(error).to_be_hidden()
    expect(page.locator("#mark-all-read")).to_be_enabled()
    expect(page.locator("#delete-all")).to_be_enabled()


def test_toolbar_fits_at_phone_width(
    page: Page, ui_sink: Sink, mailer: Any, screenshot: Any
) -> None:
    page.set_viewport_size(PHONE)  # type: ignore[arg-type]
    mailer.send_many(3)
    open_ui(page, ui_sink)
    expect(page.locator("#counts")).to_have_text("3 · 3 unread")
    assert_toolbar_fits(page)
    screenshot(page, "list-toolbar-phone")
    page.fill("#search", "Message")
    page.press("#search", "Enter")
    expect(page.locator("#delete-all")).to_have_text("Delete matching")
    assert_toolbar_fits(page)


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_toolbar_fits_at_10000_messages(
    page: Page, big_sink: Sink, screenshot: Any, viewport: dict[str, int]
) -> None:
    page.set_viewport_size(viewport)  # type: ignore[arg-type]
    open_ui(page, big_sink)
    expect(page.locator("#counts")).to_have_text("10,000 · 9,995 unread")
    expect(page.locator("#counts")).to_have_attribute("title", "10,000 messages, 9,995 unread")
    assert_toolbar_fits(page)
    name = "desktop" if viewport is DESKTOP else "phone"
    screenshot(page, f"list-toolbar-10000-{name}")
