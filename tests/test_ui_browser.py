"""The web UI in headless Chromium against a real sink: live list, search, reading, actions."""

from __future__ import annotations

import re
import struct
import zlib
from typing import Any

import pytest
from playwright.sync_api import Dialog, Page, expect

from mailsink.server import Sink

pytest_plugins = ["conftest_browser"]
pytestmark = pytest.mark.browser


def tiny_png(width: int = 16, height: int = 16) -> bytes:
    """Return a valid PNG of one solid colour."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    rows = b"".join(b"\x00" + b"\x2f\x6f\xde" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def open_ui(page: Page, sink: Sink, path: str = "/") -> None:
    """Open the UI and wait until its live event stream is connected."""
    page.goto(f"{sink.web_url}{path}")
    expect(page.locator("#live")).to_have_class(re.compile(r"\bon\b"))


def rows(page: Page) -> Any:
    """Return the list rows."""
    return page.locator("#list > li.row")


def only_id(sink: Sink) -> str:
    """Return the ID of the newest stored message."""
    return sink.store.list(0, 1).items[0].id


def test_message_sent_over_smtp_appears_live_without_reload(
    page: Page, ui_sink: Sink, mailer: Any
) -> None:
    open_ui(page, ui_sink)
    expect(page.locator("#empty")).to_be_visible()
    page.evaluate("window.__noReload = true")
    mailer.send(subject="Arrived live", to="carol@example.test")
    expect(rows(page)).to_have_count(1)
    row = rows(page).first
    expect(row.locator(".subject")).to_have_text("Arrived live")
    expect(row.locator(".from")).to_have_text("Alice Sender")
    expect(row.locator(".to")).to_have_text("To: carol@example.test")
    expect(row).to_have_class(re.compile(r"\bunread\b"))
    expect(page.locator("#empty")).to_be_hidden()
    expect(page).to_have_title("(1) mailsink")
    mailer.send(subject="Second live")
    expect(rows(page)).to_have_count(2)
    expect(rows(page).first.locator(".subject")).to_have_text("Second live")
    expect(page).to_have_title("(2) mailsink")
    assert page.evaluate("window.__noReload") is True
    assert page.evaluate("document.getElementById('favicon').href").startswith("data:image/png")


def test_search_narrows_the_list(page: Page, ui_sink: Sink, mailer: Any) -> None:
    mailer.send(subject="Your invoice 42", to="dan@example.test")
    mailer.send(subject="Welcome aboard", to="erin@example.test")
    mailer.send(subject="Password reset", to="dan@example.test")
    open_ui(page, ui_sink)
    expect(rows(page)).to_have_count(3)
    page.fill("#search", "to:dan@example.test")
    page.press("#search", "Enter")
    expect(rows(page)).to_have_count(2)
    expect(page.locator("#counts")).to_have_text("2 of 3 match")
    assert "q=to%3Adan%40example.test" in page.url
    page.fill("#search", "to:dan@example.test invoice")
    page.press("#search", "Enter")
    expect(rows(page)).to_have_count(1)
    expect(rows(page).first.locator(".subject")).to_have_text("Your invoice 42")
    page.fill("#search", "nothing-matches-this")
    page.press("#search", "Enter")
    expect(page.locator("#no-results")).to_be_visible()
    page.fill("#search", "larger:lots")
    page.press("#search", "Enter")
    expect(page.locator("#query-error")).to_be_visible()
    expect(page.locator("#query-error")).not_to_be_empty()
    page.fill("#search", "")
    page.press("#search", "Enter")
    expect(rows(page)).to_have_count(3)
    expect(page.locator("#query-error")).to_be_hidden()


def test_live_mail_respects_the_active_search(page: Page, ui_sink: Sink, mailer: Any) -> None:
    open_ui(page, ui_sink)
    page.fill("#search", "subject:alpha")
    page.press("#search", "Enter")
    expect(page.locator("#no-results")).to_be_visible()
    mailer.send(subject="beta news")
    mailer.send(subject="alpha news")
    expect(rows(page)).to_have_count(1)
    expect(rows(page).first.locator(".subject")).to_have_text("alpha news")
    expect(page.locator("#counts")).to_have_text("1 of 2 match")
    expect(page).to_have_title("(2) mailsink")


def test_search_help_lists_the_filters(page: Page, ui_sink: Sink, mailer: Any) -> None:
    open_ui(page, ui_sink)
    page.click("#search-help-button")
    help_box = page.locator("#search-help")
    expect(help_box).to_be_visible()
    for word in ("from:", "has:attachment", "is:unread", "larger:10K", "after:2024-01-31"):
        expect(help_box).to_contain_text(word)
    help_box.get_by_text("has:attachment").click()
    expect(page.locator("#search")).to_have_value("has:attachment")


def test_opening_a_message_shows_its_html_in_the_sandbox(
    page: Page, ui_sink: Sink, mailer: Any
) -> None:
    msg = mailer.build(
        subject="Rich mail",
        to="Bob <bob@example.test>",
        html='<h1 id="greeting">Hello from HTML</h1><a id="out" href="https://example.test/">x</a>',
        text="Hello from text",
    )
    mailer.send(msg, rcpts=["bob@example.test", "hidden@example.test"])
    open_ui(page, ui_sink)
    rows(page).first.click()
    message_id = only_id(ui_sink)
    expect(page).to_have_url(f"{ui_sink.web_url}/message/{message_id}")
    expect(page.locator("#m-subject")).to_have_text("Rich mail")
    frame = page.frame_locator("#m-html")
    expect(frame.locator("#greeting")).to_have_text("Hello from HTML")
    iframe = page.locator("#m-html")
    sandbox = iframe.get_attribute("sandbox")
    assert sandbox is not None
    assert "allow-scripts" not in sandbox  # same-origin sizes the frame; scripts stay off
    assert iframe.get_attribute("src") == f"/view/{message_id}.html?embed=1"
    # Links in the mail open in a new tab, not inside the frame.
    assert frame.locator("base").get_attribute("target") == "_blank"
    envelope = page.locator("#m-envelope")
    expect(envelope).to_contain_text("alice@example.test")
    expect(envelope).to_contain_text("hidden@example.test")
    expect(envelope).to_contain_text("AUTH user")
    expect(page.locator("#m-meta")).to_contain_text("Bcc")
    expect(page.locator("#m-meta")).to_contain_text("hidden@example.test")
    expect(rows(page).first).not_to_have_class(re.compile(r"\bunread\b"))
    assert ui_sink.store.get(message_id).read is True  # type: ignore[union-attr]
    page.click("#tab-text")
    expect(page.locator("#m-text")).to_contain_text("Hello from text")
    page.click("#tab-headers")
    expect(page.locator("#m-headers")).to_contain_text("Rich mail")
    page.click("#tab-raw")
    expect(page.locator("#m-raw")).to_contain_text("Subject: Rich mail")
    page.click("#tab-parts")
    expect(page.locator("#m-parts")).to_contain_text("multipart/alternative")
    expect(page.locator("#m-parts")).to_contain_text("text/html")
    page.reload()
    expect(page.locator("#m-subject")).to_have_text("Rich mail")


def test_html_preview_widths_and_remote_content_toggle(
    page: Page, ui_sink: Sink, mailer: Any
) -> None:
    mailer.send(subject="Remote", html='<p>hi</p><img id="r" src="http://203.0.113.9/pixel.gif">')
    open_ui(page, ui_sink)
    rows(page).first.click()
    expect(page.frame_locator("#m-html").locator("p")).to_have_text("hi")
    page.get_by_role("button", name="Phone").click()
    assert page.locator("#frame-wrap").bounding_box()["width"] == pytest.approx(375, abs=2)  # type: ignore[index]
    page.get_by_role("button", name="Tablet").click()
    assert page.locator("#frame-wrap").bounding_box()["width"] == pytest.approx(768, abs=2)  # type: ignore[index]
    page.get_by_role("button", name="Desktop").click()
    assert page.locator("#frame-wrap").bounding_box()["width"] > 768  # type: ignore[index]
    iframe = page.locator("#m-html")
    assert "remote=1" not in (iframe.get_attribute("src") or "")
    page.click("#remote")
    expect(iframe).to_have_attribute("src", re.compile(r"remote=1"))
    expect(page.locator("#remote")).to_have_text("Block remote content")


def test_script_in_a_hostile_email_does_not_run(page: Page, ui_sink: Sink, mailer: Any) -> None:
    dialogs: list[str] = []
    console: list[str] = []

    def dismiss(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", dismiss)
    page.on("console", lambda message: console.append(message.text))
    hostile = (
        '<p id="body">Totally normal</p>'
        "<script>alert('script ran'); document.body.dataset.pwned = '1';"
        "try { top.document.title = 'pwned'; } catch (e) {}</script>"
        '<img src="x" onerror="alert(\'onerror ran\')">'
        "<svg onload=\"alert('svg ran')\"></svg>"
    )
    subject = "<img src=x onerror=alert('subject')> & <b>bold</b>"
    mailer.send(
        subject=subject,
        sender='"<script>alert(1)</script>" <evil@example.test>',
        html=hostile,
        attachments=(("<img src=x onerror=alert(4)>.txt", "text/plain", b"x"),),
    )
    open_ui(page, ui_sink)
    expect(rows(page).first.locator(".subject")).to_have_text(subject)
    expect(rows(page).first.locator(".from")).to_have_text("<script>alert(1)</script>")
    rows(page).first.click()
    expect(page.locator("#m-subject")).to_have_text(subject)
    frame = page.frame_locator("#m-html")
    expect(frame.locator("#body")).to_have_text("Totally normal")
    expect(page.locator("#m-attachments")).to_contain_text("<img src=x onerror=alert(4)>.txt")
    page.wait_for_timeout(300)
    assert dialogs == []
    assert frame.locator("body").get_attribute("data-pwned") is None
    assert "pwned" not in page.title()
    assert any("Blocked script execution" in line for line in console), console
    assert page.locator("#m-subject img, #list img, #m-meta script").count() == 0


def test_attachments_download_and_images_preview(page: Page, ui_sink: Sink, mailer: Any) -> None:
    pdf = b"%PDF-1.4\n% fake pdf for the test\n"
    png = tiny_png()
    mailer.send(
        subject="With files",
        attachments=(("report.pdf", "application/pdf", pdf), ("chart.png", "image/png", png)),
    )
    open_ui(page, ui_sink)
    expect(rows(page).first.locator(".clip")).to_be_visible()
    rows(page).first.click()
    box = page.locator("#m-attachments")
    expect(box).to_contain_text("report.pdf")
    expect(box).to_contain_text("application/pdf")
    expect(box).to_contain_text(f"{len(pdf)} B")
    preview = box.locator("img.preview")
    expect(preview).to_have_count(1)
    expect(preview).to_have_js_property("naturalWidth", 16)
    with page.expect_download() as info:
        box.get_by_text("report.pdf").click()
    download = info.value
    assert download.suggested_filename == "report.pdf"
    with open(download.path(), "rb") as handle:
        assert handle.read() == pdf
    page.click("#download-menu summary")
    with page.expect_download() as info:
        page.click("#download")
    eml = info.value
    message_id = only_id(ui_sink)
    assert eml.suggested_filename == f"{message_id}.eml"
    with open(eml.path(), "rb") as handle:
        assert handle.read() == ui_sink.store.raw(message_id)


def test_delete_and_mark_read_work(page: Page, ui_sink: Sink, mailer: Any) -> None:
    for subject in ("First", "Second", "Third"):
        mailer.send(subject=subject)
    open_ui(page, ui_sink)
    expect(rows(page)).to_have_count(3)
    first_id = ui_sink.store.list(0, 3).items[2].id
    rows(page).filter(has_text="First").click()
    expect(page.locator("#toggle-read")).to_have_text("Mark unread")
    expect(page).to_have_title("(2) First · mailsink")
    page.click("#toggle-read")
    expect(rows(page).filter(has_text="First")).to_have_class(re.compile(r"\bunread\b"))
    expect(page.locator("#toggle-read")).to_have_text("Mark read")
    assert ui_sink.store.get(first_id).read is False  # type: ignore[union-attr]
    page.click("#toggle-read")
    expect(rows(page).filter(has_text="First")).not_to_have_class(re.compile(r"\bunread\b"))
    page.click("#delete-one")
    expect(rows(page)).to_have_count(2)
    assert ui_sink.store.get(first_id) is None
    # On a wide screen the next message opens in place of the deleted one.
    expect(page.locator("#m-subject")).to_have_text("Second")
    expect(rows(page).filter(has_text="Third")).to_have_class(re.compile(r"\bunread\b"))
    page.click("#mark-all-read")
    expect(rows(page).filter(has_text="Third")).not_to_have_class(re.compile(r"\bunread\b"))
    expect(page).to_have_title("Second · mailsink")
    assert ui_sink.store.unread() == 0


def test_delete_all_asks_for_confirmation(page: Page, ui_sink: Sink, mailer: Any) -> None:
    mailer.send_many(3)
    open_ui(page, ui_sink)
    expect(rows(page)).to_have_count(3)
    page.click("#delete-all")
    expect(page.locator("#confirm-dialog")).to_be_visible()
    expect(page.locator("#confirm-text")).to_have_text("Delete all 3 messages?")
    page.click("#confirm-cancel")
    expect(page.locator("#confirm-dialog")).to_be_hidden()
    assert ui_sink.store.count() == 3
    page.click("#delete-all")
    page.click("#confirm-ok")
    expect(rows(page)).to_have_count(0)
    expect(page.locator("#empty")).to_be_visible()
    assert ui_sink.store.count() == 0


def test_keyboard_navigation_works(page: Page, ui_sink: Sink, mailer: Any) -> None:
    mailer.send_many(3, prefix="Keyed")
    open_ui(page, ui_sink)
    expect(rows(page)).to_have_count(3)
    selected = page.locator("#list > li.selected .subject")
    page.keyboard.press("j")
    expect(selected).to_have_text("Keyed 002")
    page.keyboard.press("j")
    expect(selected).to_have_text("Keyed 001")
    page.keyboard.press("ArrowDown")
    expect(selected).to_have_text("Keyed 000")
    page.keyboard.press("k")
    expect(selected).to_have_text("Keyed 001")
    page.keyboard.press("Enter")
    expect(page.locator("#m-subject")).to_have_text("Keyed 001")
    page.keyboard.press("j")
    expect(page.locator("#m-subject")).to_have_text("Keyed 000")
    page.keyboard.press("ArrowUp")
    expect(page.locator("#m-subject")).to_have_text("Keyed 001")
    page.keyboard.press("Escape")
    expect(page.locator("#message-pane")).to_be_hidden()
    page.keyboard.press("/")
    expect(page.locator("#search")).to_be_focused()
    page.keyboard.type("jk")  # typed into the search box, not taken as shortcuts
    expect(page.locator("#search")).to_have_value("jk")
    expect(page.locator("#no-results")).to_be_visible()
    page.fill("#search", "")
    expect(rows(page)).to_have_count(3)
    page.keyboard.press("Escape")  # leaves the search box
    expect(page.locator("#search")).not_to_be_focused()
    page.keyboard.press("?")
    expect(page.locator("#help-dialog")).to_be_visible()
    page.keyboard.press("Escape")
    expect(page.locator("#help-dialog")).to_be_hidden()
    page.keyboard.press("j")
    expect(selected).to_have_text("Keyed 002")
    unread = re.compile(r"\bunread\b")
    row = page.locator("#list > li.selected")
    expect(row).to_have_class(unread)
    page.keyboard.press("u")
    expect(row).not_to_have_class(unread)
    page.keyboard.press("u")
    expect(row).to_have_class(unread)
    page.keyboard.press("Delete")
    expect(rows(page)).to_have_count(2)
    expect(selected).to_have_text("Keyed 001")
    assert [m.summary.subject for m in ui_sink.store.list(0, 5).items] == ["Keyed 001", "Keyed 000"]


def test_list_pages_through_older_messages(page: Page, ui_sink: Sink, mailer: Any) -> None:
    mailer.send_many(60, prefix="Bulk")
    open_ui(page, ui_sink)
    expect(rows(page)).to_have_count(50)
    expect(page.locator("#range")).to_have_text("1\u201350 of 60")
    expect(rows(page).first.locator(".subject")).to_have_text("Bulk 059")
    page.click("#older")
    expect(rows(page)).to_have_count(10)
    expect(rows(page).first.locator(".subject")).to_have_text("Bulk 009")
    expect(page.locator("#older")).to_be_disabled()
    assert "start=50" in page.url
    page.keyboard.press("ArrowLeft")
    expect(rows(page)).to_have_count(50)
    expect(page.locator("#newer")).to_be_disabled()


def test_themes_follow_the_system_setting(page: Page, ui_sink: Sink, mailer: Any) -> None:
    background = "getComputedStyle(document.body).backgroundColor"
    page.emulate_media(color_scheme="light")
    open_ui(page, ui_sink)
    assert page.evaluate(background) == "rgb(255, 255, 255)"
    page.emulate_media(color_scheme="dark")
    assert page.evaluate(background) == "rgb(22, 24, 29)"


def test_a_cross_site_page_cannot_change_the_mailbox(
    page: Page, ui_sink: Sink, mailer: Any
) -> None:
    mailer.send(subject="Keep me")
    evil = "http://evil.test/"
    page.route(evil, lambda route: route.fulfill(content_type="text/html", body="<p>evil</p>"))
    page.goto(evil)
    outcome = page.evaluate(
        """async (base) => {
            const out = [];
            for (const [method, path, body] of [
                ["DELETE", "/api/v1/messages", null],
                ["PUT", "/api/v1/messages", JSON.stringify({IDs: [], Read: true})],
            ]) {
                try {
                    const headers = {"Content-Type": "application/json"};
                    await fetch(base + path, {method, body, headers});
                    out.push(method + " went through");
                } catch (e) { out.push(method + " blocked"); }
            }
            // Simple requests need no preflight: a form-like POST with a text body.
            await fetch(base + "/api/v1/messages", {method: "POST", mode: "no-cors",
                body: JSON.stringify({IDs: []}), headers: {"Content-Type": "text/plain"}}
            ).catch(() => {});
            return out;
        }""",
        ui_sink.web_url,
    )
    assert outcome == ["DELETE blocked", "PUT blocked"]
    assert ui_sink.store.count() == 1
    assert ui_sink.store.unread() == 1


def test_a_cross_site_page_cannot_post_mail_into_the_mailbox(page: Page, ui_sink: Sink) -> None:
    evil = "http://evil.test/"
    page.route(evil, lambda route: route.fulfill(content_type="text/html", body="<p>evil</p>"))
    page.goto(evil)
    # A "simple" request (text/plain body, no preflight) is what an HTML form can send too.
    page.evaluate(
        """async (base) => {
            const body = JSON.stringify({From: {Email: "x@evil.test"}, To: [{Email: "y@evil.test"}],
                                         Subject: "forged", Text: "forged"});
            await fetch(base + "/api/v1/send", {method: "POST", mode: "no-cors", body,
                headers: {"Content-Type": "text/plain"}}).catch(() => {});
        }""",
        ui_sink.web_url,
    )
    assert ui_sink.store.count() == 0
