"""Screenshots of the main views at desktop and phone width (test-artifacts/screenshots/)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, ViewportSize, expect

from mailsink.server import Sink

pytest_plugins = ["conftest_browser"]
pytestmark = pytest.mark.browser

PHONE: ViewportSize = {"width": 390, "height": 844}

NEWSLETTER = (
    '<!doctype html><html><body style="margin:0;font-family:Arial,sans-serif;background:#f4f4f7">'
    '<table width="100%" cellpadding="0" cellspacing="0"><tr><td align="center">'
    '<table width="560" style="max-width:100%;background:#fff;margin:24px 0;border-radius:8px">'
    '<tr><td style="padding:28px 32px">'
    '<h1 style="color:#333;font-size:24px;margin:0 0 12px">Your order has shipped</h1>'
    '<p style="color:#555;line-height:1.5">Hi Bob, good news: order <b>#10423</b> is on its way'
    " and should arrive on Thursday.</p>"
    '<p><a href="https://shop.example.test/track/10423" style="display:inline-block;'
    "background:#2f6fde;color:#fff;padding:10px 18px;border-radius:6px;text-decoration:none"
    '">Track your parcel</a></p>'
    '<img src="https://cdn.example.test/banner.png" alt="(remote banner, blocked)" width="480">'
    '<p style="color:#999;font-size:12px">Example Shop, 1 Main Street, Unsubscribe</p>'
    "</td></tr></table></td></tr></table></body></html>"
)


def fill_mailbox(mailer: Any) -> None:
    """Send a realistic mix of mail: plain, HTML, attachments, tags, long subjects."""
    mailer.send(
        subject="Welcome to Example Shop, Bob!",
        sender="Example Shop <hello@shop.example.test>",
        text="Thanks for signing up. Here is everything you need to get started with your account.",
    )
    mailer.send(
        subject="Password reset requested",
        sender="Security <no-reply@auth.example.test>",
        to="bob@example.test",
        text="Someone asked to reset your password. If it was you, use the link below"
        " within 1 hour.",
        headers={"X-Tags": "auth, important"},
    )
    mailer.send(
        subject="Invoice INV-2024-0042 for March",
        sender="Billing <billing@example.test>",
        to="Bob <bob@example.test>, accounts@example.test",
        text="Please find your invoice attached. Amount due: 129.00 EUR by April 15.",
        attachments=(("INV-2024-0042.pdf", "application/pdf", b"%PDF-1.4 " + b"x" * 48_000),),
    )
    mailer.send(
        subject="A very long subject line that goes on and on to show how the list truncates it"
        " neatly at the edge",
        sender="Marketing Team With A Long Name <marketing@news.example.test>",
        text="Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor.",
    )
    mailer.send(
        mailer.build(
            subject="Your order has shipped",
            sender="Example Shop <orders@shop.example.test>",
            to="Bob <bob@example.test>",
            text="Hi Bob, order #10423 is on its way. Track it: https://shop.example.test/track/10423",
            html=NEWSLETTER,
            headers={"X-Tags": "orders"},
        ),
        rcpts=["bob@example.test", "audit@example.test"],
    )


def test_screenshots_of_main_views_at_desktop_and_phone_width(
    page: Page, browser: Browser, ui_sink: Sink, mailer: Any, screenshot: Any
) -> None:
    page.goto(ui_sink.web_url or "")
    expect(page.locator("#empty")).to_be_visible()
    screenshot(page, "desktop-empty")
    fill_mailbox(mailer)
    expect(page.locator("#list > li")).to_have_count(5)
    screenshot(page, "desktop-list")
    page.locator("#list > li").first.click()
    expect(page.frame_locator("#m-html").locator("h1")).to_have_text("Your order has shipped")
    screenshot(page, "desktop-message-html")
    page.get_by_role("button", name="Phone").click()
    screenshot(page, "desktop-message-phone-preview")
    page.click("#tab-parts")
    expect(page.locator("#m-parts")).to_contain_text("text/html")
    screenshot(page, "desktop-message-parts")
    page.locator("#list > li", has_text="Invoice").click()
    expect(page.locator("#m-attachments")).to_contain_text("INV-2024-0042.pdf")
    screenshot(page, "desktop-message-attachment")
    page.fill("#search", "has:attachment")
    page.press("#search", "Enter")
    expect(page.locator("#list > li")).to_have_count(1)
    page.click("#search-help-button")
    screenshot(page, "desktop-search")
    page.keyboard.press("Escape")
    page.locator("body").press("?")
    expect(page.locator("#help-dialog")).to_be_visible()
    screenshot(page, "desktop-help")
    page.keyboard.press("Escape")

    dark = browser.new_context(viewport={"width": 1280, "height": 800}, color_scheme="dark")
    dark_page = dark.new_page()
    dark_page.goto(f"{ui_sink.web_url}/")
    expect(dark_page.locator("#list > li")).to_have_count(5)
    dark_page.locator("#list > li", has_text="Password").click()
    expect(dark_page.locator("#m-subject")).to_have_text("Password reset requested")
    screenshot(dark_page, "desktop-dark-message-text")
    dark.close()

    phone = browser.new_context(
        viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True
    )
    phone_page = phone.new_page()
    phone_page.goto(f"{ui_sink.web_url}/")
    expect(phone_page.locator("#list > li")).to_have_count(5)
    screenshot(phone_page, "phone-list")
    phone_page.locator("#list > li").first.click()
    expect(phone_page.locator("#list-pane")).to_be_hidden()
    expect(phone_page.frame_locator("#m-html").locator("h1")).to_have_text("Your order has shipped")
    screenshot(phone_page, "phone-message")
    phone_page.click("#back")
    expect(phone_page.locator("#list-pane")).to_be_visible()
    expect(phone_page).to_have_url(re.compile(r"/$"))
    ui_sink.mailbox.clear()
    expect(phone_page.locator("#empty")).to_be_visible()
    screenshot(phone_page, "phone-empty")
    phone.close()
