"""The first load in Chromium: preloaded API answers are used, cached assets not refetched."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from playwright.sync_api import Page

from helpers import wait_until
from mailsink.server import Sink

pytest_plugins = ["conftest_browser"]
pytestmark = pytest.mark.browser


def test_preloaded_api_answers_are_used_not_fetched_twice(
    page: Page, ui_sink: Sink, mailer: Any
) -> None:
    """A preload whose URL differs from app.js's fetch by a byte costs a second request."""
    mailer.send(subject="Preloaded", html="<p>Hi</p>")
    message_id = ui_sink.store.list(0, 1).items[0].id
    api_calls: Counter[str] = Counter()
    page.on(
        "request",
        lambda r: api_calls.update([r.url.split("/api/", 1)[1]]) if "/api/" in r.url else None,
    )
    page.goto(f"{ui_sink.web_url}/message/{message_id}")
    wait_until(page, "performance.getEntriesByName('mailsink:message').length > 0")
    wait_until(page, "performance.getEntriesByName('mailsink:list').length > 0")
    assert page.locator("#m-subject").text_content() == "Preloaded"
    first = {"v1/messages?start=0&limit=50", f"v1/message/{message_id}"}
    assert {path: api_calls[path] for path in first} == dict.fromkeys(first, 1), api_calls
    assert sum(n for path, n in api_calls.items() if path.startswith("v1/message")) == 2
    started = page.evaluate(
        "performance.getEntriesByType('resource')"
        ".filter(e => e.name.includes('/api/v1/message')).map(e => e.initiatorType)"
    )
    assert started == ["link", "link"]  # both from the shell's <link rel=preload>, none refetched


def test_a_second_load_takes_every_asset_from_the_cache(page: Page, ui_sink: Sink) -> None:
    page.goto(f"{ui_sink.web_url}/")
    wait_until(page, "performance.getEntriesByName('mailsink:list').length > 0")
    # The browser fetches the icon when it likes, or not at all once live.js has drawn its own:
    # fetch it here, so the second load finds it in the cache like every other asset (CI failed
    # twice on a second load that fetched the icon for the first time).
    page.evaluate(
        """async () => {
            const shell = await (await fetch('/')).text();
            await fetch(shell.match(/[^"]*[/]favicon[.]svg/)[0]);
        }"""
    )
    page.goto(f"{ui_sink.web_url}/?start=0")
    wait_until(page, "performance.getEntriesByName('mailsink:list').length > 0")
    assets = page.evaluate(
        "performance.getEntriesByType('resource').filter(e => e.name.includes('/ui/assets/'))"
        ".map(e => [e.name, e.transferSize])"
    )
    assert len(assets) >= 18
    assert [name for name, size in assets if size] == []  # not even a 304 revalidation
