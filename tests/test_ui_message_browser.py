"""The message view in Chromium: a compact header, the body near the top at its full height,
scripts that never run although the frame shares the UI's origin, the HTML source, downloads,
clickable addresses, prev/next, and nothing stale after paging (issue 18)."""

from __future__ import annotations

import json
import re
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from api_helpers import png
from playwright.sync_api import Browser, Dialog, Page, Route, expect

from helpers import wait_until
from mailsink.server import Sink

pytest_plugins = ["conftest_browser"]
pytestmark = pytest.mark.browser

DESKTOP = {"width": 1440, "height": 900}
PHONE = {"width": 390, "height": 844}

NEWSLETTER = (
    '<!doctype html><html><body style="margin:0;font-family:Arial,sans-serif;background:#f4f4f7">'
    '<table width="100%" cellpadding="0" cellspacing="0"><tr><td align="center">'
    '<table width="560" style="max-width:100%;background:#fff;margin:24px 0;border-radius:8px">'
    '<tr><td style="padding:28px 32px">'
    '<h1 id="headline" style="color:#333;font-size:24px;margin:0 0 12px">Spring sale: 20% off</h1>'
    '<p style="color:#555;line-height:1.5">Hi Bob, our spring sale starts today. Your price list'
    " and the catalogue are attached.</p>"
    '<p><a href="https://shop.example.test/sale" style="display:inline-block;background:#2f6fde;'
    'color:#fff;padding:10px 18px;border-radius:6px;text-decoration:none">Shop the sale</a></p>'
    '<p style="color:#999;font-size:12px">Example Shop, 1 Main Street, Unsubscribe</p>'
    "</td></tr></table></td></tr></table></body></html>"
)


def open_message(page: Page, sink: Sink, message_id: str | None = None) -> str:
    """Open the newest (or the given) message in the UI and return its ID."""
    message_id = message_id or sink.store.list(0, 1).items[0].id
    page.goto(f"{sink.web_url}/message/{message_id}")
    expect(page.locator("#live")).to_have_class(re.compile(r"\bon\b"))
    expect(page.locator("#message")).not_to_have_class(re.compile(r"\bloading\b"))
    return message_id


def assert_body_in_top_half(page: Page, label: str) -> None:
    """The HTML frame's top edge lies in the first half of the viewport (and is printed)."""
    found = page.locator("#m-html").bounding_box()
    assert found is not None
    top = float(found["y"])
    print(f"{label} body frame top: y={top:.0f} of {DESKTOP['height']}")
    assert top < DESKTOP["height"] / 2, top


def api_json(sink: Sink, path: str) -> Any:
    """GET a JSON API path as a non-browser client would."""
    with urllib.request.urlopen(f"{sink.web_url}{path}", timeout=10) as response:
        return json.load(response)


def api_bytes(sink: Sink, path: str) -> bytes:
    """GET an API path's body."""
    with urllib.request.urlopen(f"{sink.web_url}{path}", timeout=10) as response:
        return bytes(response.read())


def send_newsletter(mailer: Any) -> None:
    """Send an HTML newsletter with two attachments (a PDF and an image)."""
    mailer.send(
        mailer.build(
            subject="Spring sale: 20% off everything",
            sender="Example Shop <news@shop.example.test>",
            to="Bob <bob@example.test>",
            text="Our spring sale starts today.",
            html=NEWSLETTER,
            attachments=(
                ("price-list.pdf", "application/pdf", b"%PDF-1.4 " + b"x" * 20_000),
                ("catalogue.png", "image/png", png(16, 16)),
            ),
            headers={"X-Tags": "newsletter"},
        )
    )


def send_crowd(mailer: Any) -> None:
    """Send a mail to 60 To and 20 Cc recipients, every one also in the envelope."""
    to = [f"Member {i} <member{i}@example.test>" for i in range(60)]
    cc = [f"watcher{i}@example.test" for i in range(20)]
    msg = mailer.build(
        subject="Team announcement",
        to=", ".join(to),
        html="<h1 id='headline'>All hands on Friday</h1><p>See you there.</p>",
        text="All hands on Friday",
        headers={"Cc": ", ".join(cc)},
    )
    rcpts = [f"member{i}@example.test" for i in range(60)] + cc
    mailer.send(msg, rcpts=rcpts)


def test_the_body_of_a_newsletter_with_two_attachments_starts_in_the_top_half(
    page: Page, ui_sink: Sink, mailer: Any
) -> None:
    page.set_viewport_size(DESKTOP)  # type: ignore[arg-type]
    send_newsletter(mailer)
    open_message(page, ui_sink)
    expect(page.frame_locator("#m-html").locator("#headline")).to_have_text("Spring sale: 20% off")
    files = page.locator("#m-files")
    expect(files).to_contain_text("Attachments (2)")
    expect(files).to_contain_text("price-list.pdf")
    expect(files.locator("img.preview")).to_have_count(1)
    expect(page.locator("#m-envelope-box")).not_to_have_attribute("open", "")
    expect(page.locator("#m-envelope-summary")).to_contain_text("1 recipient")
    expect(page.locator("#m-tags .tag")).to_have_text(["newsletter"])
    assert_body_in_top_half(page, "newsletter")


def test_the_body_of_a_mail_to_80_recipients_starts_in_the_top_half(
    page: Page, ui_sink: Sink, mailer: Any
) -> None:
    page.set_viewport_size(DESKTOP)  # type: ignore[arg-type]
    send_crowd(mailer)
    open_message(page, ui_sink)
    expect(page.frame_locator("#m-html").locator("#headline")).to_have_text("All hands on Friday")
    meta = page.locator("#m-meta")
    expect(meta.locator(".more-addresses")).to_have_text(["and 57 more", "and 17 more"])
    expect(page.locator("#m-envelope-summary")).to_contain_text("80 recipients")
    # The envelope's RCPT TO rows are there, folded away, not a second list on screen.
    expect(page.locator("#m-envelope")).to_be_hidden()
    expect(page.locator("#m-envelope")).to_contain_text("watcher19@example.test")
    assert_body_in_top_half(page, "80-recipient")
    expect(meta.get_by_text("member59@example.test", exact=False)).to_be_hidden()
    meta.locator(".more-addresses").first.click()
    expect(meta.get_by_text("Member 59 <member59@example.test>")).to_be_visible()
    expect(meta.locator(".more-addresses")).to_have_count(1)
    page.click("#m-envelope-summary")
    expect(page.locator("#m-envelope")).to_be_visible()


def test_a_tall_html_mail_is_shown_at_full_height_and_the_page_scrolls(
    page: Page, ui_sink: Sink, mailer: Any
) -> None:
    page.set_viewport_size(DESKTOP)  # type: ignore[arg-type]
    html = (
        '<body style="margin:0"><div style="height:3000px;background:linear-gradient(#fff,#9cf)">'
        '<p id="top">top</p></div><p id="bottom">bottom</p></body>'
    )
    mailer.send(subject="Tall", html=html)
    open_message(page, ui_sink)
    frame = page.frame_locator("#m-html")
    expect(frame.locator("#bottom")).to_have_text("bottom")
    iframe = page.locator("#m-html")
    wait_until(page, "document.getElementById('m-html').clientHeight >= 3000", 10_000)
    sizes = page.evaluate(
        """() => {
            const f = document.getElementById('m-html'), d = f.contentDocument.documentElement;
            const pane = document.getElementById('message-pane');
            return {frame: f.clientHeight, inner: d.scrollHeight, pane: pane.clientHeight,
                    paneScroll: pane.scrollHeight};
        }"""
    )
    assert sizes["frame"] >= 3000
    assert sizes["inner"] <= sizes["frame"], sizes  # the frame itself has nothing to scroll
    assert sizes["pane"] < sizes["frame"] <= sizes["paneScroll"], sizes  # the page scrolls
    frame.locator("#bottom").scroll_into_view_if_needed()
    box = frame.locator("#bottom").bounding_box()
    assert box is not None and 0 <= box["y"] < DESKTOP["height"]
    # A narrower preview, or another tab and back, leave the same body at the same height.
    page.get_by_role("button", name="Phone").click()
    page.get_by_role("button", name="Desktop").click()
    expect(iframe).to_have_js_property("clientHeight", sizes["frame"])
    page.click("#tab-text")
    page.click("#tab-html")
    expect(iframe).to_have_js_property("clientHeight", sizes["frame"])


def test_a_script_that_would_resize_or_read_the_parent_does_not_run(
    page: Page, ui_sink: Sink, mailer: Any
) -> None:
    """The frame shares the UI's origin (to be measured), so a script there could reach the UI."""
    dialogs: list[str] = []
    console: list[str] = []

    def dismiss(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", dismiss)
    page.on("console", lambda message: console.append(message.text))
    mailer.send(subject="Secret", text="do not mark me read")
    victim = ui_sink.store.list(0, 1).items[0].id
    reach = (
        "frameElement.style.height='1px'; parent.document.body.dataset.pwned='1';"
        "parent.document.title='pwned'; parent.history.pushState({}, '', '/pwned');"
    )
    hostile = (
        f"<body onload=\"{reach}\"><p id='body'>Nothing to see</p>"
        f"<script>{reach} alert('script ran');</script>"
        f'<img src="x" onerror="{reach}">'
        f"<iframe srcdoc=\"<script>parent.parent.document.body.dataset.pwned='2'</script>\">"
        "</iframe>"
        "<a id='js' href=\"javascript:parent.document.body.dataset.pwned='3'\">click</a>"
        f'<img id="api" src="/api/v1/message/{victim}">'
        f'<link rel="stylesheet" href="/api/v1/message/{victim}">'
        "</body>"
    )
    mailer.send(subject="Hostile", html=hostile)
    message_id = open_message(page, ui_sink)
    frame = page.frame_locator("#m-html")
    expect(frame.locator("#body")).to_have_text("Nothing to see")
    page.click("#remote")  # remote content on: http: images and styles may load, our API still not
    expect(frame.locator("#body")).to_have_text("Nothing to see")
    frame.locator("#js").click()
    page.wait_for_timeout(300)
    assert dialogs == []
    assert page.evaluate("document.body.dataset.pwned") is None
    assert "pwned" not in page.title() and "pwned" not in page.url
    assert page.locator("#m-html").evaluate("(f) => f.clientHeight") >= 100
    assert any("Blocked script execution" in line for line in console), console
    victim_stored = ui_sink.store.get(victim)
    assert victim_stored is not None and victim_stored.read is False
    # The view's own headers forbid script too, so opening it as a page runs nothing either.
    response = page.goto(f"{ui_sink.web_url}/view/{message_id}.html")
    assert response is not None
    policy = response.headers["content-security-policy"]
    assert "script-src 'none'" in policy and "allow-scripts" not in policy
    page.wait_for_timeout(200)
    assert page.evaluate("document.body.dataset.pwned") is None
    assert dialogs == []


def test_the_html_source_tab_shows_the_html_highlighted_as_text(
    page: Page, ui_sink: Sink, mailer: Any
) -> None:
    html = (
        "<!doctype html><p class=\"intro\" data-x='1'>Hello &amp; welcome</p>"
        "<!-- a comment --><img src=x onerror=alert(1)><br/>a < b"
    )
    mailer.send(subject="Source", html=html)
    message_id = open_message(page, ui_sink)
    page.click("#tab-source")
    source = page.locator("#m-source")
    expected = api_json(ui_sink, f"/api/v1/message/{message_id}?peek=1")["HTML"]
    expect(source).to_have_text(expected)
    expect(source.locator(".hl-tag").first).to_have_text("p")
    expect(source.locator(".hl-attr").first).to_have_text("class")
    expect(source.locator(".hl-value").first).to_have_text('"intro"')
    expect(source.locator(".hl-comment")).to_have_text("<!-- a comment -->")
    assert source.locator("img, p, br").count() == 0  # text and spans only


def test_downloads_have_the_bytes_of_the_api(page: Page, ui_sink: Sink, mailer: Any) -> None:
    mailer.send(subject="Files", html="<p>HTML body, ünïcode</p>", text="Text body, ünïcode")
    message_id = open_message(page, ui_sink)
    api = api_json(ui_sink, f"/api/v1/message/{message_id}?peek=1")
    expected = {
        "#download": (f"{message_id}.eml", api_bytes(ui_sink, f"/api/v1/message/{message_id}/raw")),
        "#download-html": (f"{message_id}.html", api["HTML"].encode()),
        "#download-text": (f"{message_id}.txt", api["Text"].encode()),
    }
    for selector, (name, body) in expected.items():
        page.click("#download-menu summary")
        with page.expect_download() as info:
            page.click(selector)
        download = info.value
        assert download.suggested_filename == name, selector
        assert Path(download.path()).read_bytes() == body, selector
        expect(page.locator("#download-menu .menu-items")).to_be_hidden()


def test_clicking_an_address_searches_for_it(page: Page, ui_sink: Sink, mailer: Any) -> None:
    mailer.send(subject="From Alice", to="Bob <bob@example.test>")
    mailer.send(subject="From Carol", sender="Carol <carol@example.test>", to="dan@example.test")
    open_message(page, ui_sink)  # the newest: From Carol
    page.locator("#m-meta a.addr", has_text="carol@example.test").click()
    expect(page.locator("#search")).to_have_value('from:"carol@example.test"')
    expect(page.locator("#list > li.row")).to_have_count(1)
    assert "q=from" in page.url
    page.locator("#m-meta a.addr", has_text="dan@example.test").click()
    expect(page.locator("#search")).to_have_value('to:"dan@example.test"')
    expect(page.locator("#list > li.row .subject")).to_have_text(["From Carol"])


def test_prev_and_next_buttons_step_through_the_page_like_j_and_k(
    page: Page, ui_sink: Sink, mailer: Any
) -> None:
    mailer.send_many(3, prefix="Step")
    newest = ui_sink.store.list(0, 1).items[0].id
    open_message(page, ui_sink, newest)
    subject = page.locator("#m-subject")
    expect(subject).to_have_text("Step 002")
    expect(page.locator("#prev-message")).to_be_disabled()
    page.click("#next-message")
    expect(subject).to_have_text("Step 001")
    expect(page.locator("#list > li.selected .subject")).to_have_text("Step 001")
    page.click("#next-message")
    expect(subject).to_have_text("Step 000")
    expect(page.locator("#next-message")).to_be_disabled()
    page.click("#prev-message")
    expect(subject).to_have_text("Step 001")
    page.keyboard.press("k")  # the keyboard does the same
    expect(subject).to_have_text("Step 002")
    expect(page.locator("#prev-message")).to_be_disabled()


def test_after_paging_the_reading_pane_shows_nothing_stale(
    page: Page, ui_sink: Sink, mailer: Any
) -> None:
    mailer.send_many(60, prefix="Paged")
    first = ui_sink.store.list(0, 1).items[0].id
    open_message(page, ui_sink, first)
    expect(page.locator("#m-subject")).to_have_text("Paged 059")
    page.click("#older")
    expect(page.locator("#list > li.row")).to_have_count(10)
    expect(page.locator("#message-pane")).to_be_hidden()
    expect(page.locator("#placeholder")).to_be_visible()
    expect(page.locator("#list > li.selected")).to_have_count(0)
    assert page.locator("#m-subject").text_content() == ""
    assert page.locator("#m-meta").text_content() == ""
    assert page.locator("#m-html").get_attribute("src") is None
    page.locator("#list > li.row").first.click()
    expect(page.locator("#m-subject")).to_have_text("Paged 009")


def test_message_shown_event_and_tag_container_for_the_tag_editor(
    page: Page, ui_sink: Sink, mailer: Any
) -> None:
    mailer.send(subject="Tagged", headers={"X-Tags": "alpha, beta"})
    page.goto(ui_sink.web_url or "")
    page.evaluate(
        "document.addEventListener('mailsink:message-shown', (e) => {"
        " window.__shown = [e.detail.id, document.querySelectorAll('#m-tags .tag').length]; })"
    )
    page.locator("#list > li.row").first.click()
    wait_until(page, "window.__shown !== undefined")
    message_id = ui_sink.store.list(0, 1).items[0].id
    assert page.evaluate("window.__shown") == [message_id, 2]
    expect(page.locator(".m-header #m-tags .tag")).to_have_text(["alpha", "beta"])


def test_screenshots_of_the_message_view(
    browser: Browser, ui_sink: Sink, mailer: Any, screenshot: Any
) -> None:
    send_crowd(mailer)
    send_newsletter(mailer)
    newsletter, crowd = (m.id for m in ui_sink.store.list(0, 2).items)
    for scheme in ("light", "dark"):
        for name, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
            phone = name == "phone"
            context = browser.new_context(
                viewport=viewport,  # type: ignore[arg-type]
                color_scheme=scheme,
                device_scale_factor=2 if phone else 1,
                is_mobile=phone,
                has_touch=phone,
            )
            page = context.new_page()
            for label, message_id in (("recipients", crowd), ("newsletter", newsletter)):
                open_message(page, ui_sink, message_id)
                expect(page.frame_locator("#m-html").locator("#headline")).to_be_visible()
                page.wait_for_timeout(100)
                screenshot(page, f"message-{label}-{name}-{scheme}")
            page.click("#tab-source")
            expect(page.locator("#m-source .hl-tag").first).to_be_visible()
            screenshot(page, f"message-source-{name}-{scheme}")
            page.click("#tab-html")
            page.click("#download-menu summary")
            screenshot(page, f"message-downloads-{name}-{scheme}")
            context.close()


def deliver_late(page: Page, route: Route) -> None:
    """Let a held API request through and give the page time to handle its answer."""
    with page.expect_response(lambda response: response.url == route.request.url):
        route.continue_()
    page.evaluate("() => new Promise((done) => setTimeout(done, 200))")


def test_a_late_answer_for_a_message_left_behind_does_not_replace_the_view(
    page: Page, ui_sink: Sink, mailer: Any
) -> None:
    mailer.send(subject="Slow one")
    mailer.send(subject="Quick one")
    slow = ui_sink.store.list(0, 2).items[1].id
    held: list[Route] = []

    def hold(route: Route) -> None:  # not held.append: Playwright tags its handlers
        held.append(route)

    page.route(f"**/api/v1/message/{slow}", hold)  # answered when the test says so
    page.goto(ui_sink.web_url or "")
    rows = page.locator("#list > li.row")
    expect(rows).to_have_count(2)
    rows.filter(has_text="Slow one").click()
    page.wait_for_timeout(200)
    assert len(held) == 1
    rows.filter(has_text="Quick one").click()
    expect(page.locator("#m-subject")).to_have_text("Quick one")
    deliver_late(page, held.pop())  # the slow answer arrives after the other message is shown
    expect(page.locator("#m-subject")).to_have_text("Quick one")
    assert page.evaluate("window.location.pathname").endswith(ui_sink.store.list(0, 1).items[0].id)
    # The same when the view was closed (Esc) while the answer was on its way.
    rows.filter(has_text="Slow one").click()
    page.wait_for_timeout(200)
    page.keyboard.press("Escape")
    expect(page.locator("#message-pane")).to_be_hidden()
    deliver_late(page, held.pop())
    expect(page.locator("#message-pane")).to_be_hidden()
    assert page.locator("#m-subject").text_content() == ""
