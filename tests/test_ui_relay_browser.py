"""The Release button and the Chaos settings in headless Chromium, against real sinks."""

from __future__ import annotations

import re
import smtplib
from collections.abc import Callable
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from mailsink.relay.settings import RelaySettings, parse_upstream
from mailsink.server import Sink

pytest_plugins = ["conftest_browser"]
pytestmark = pytest.mark.browser

MakeSink = Callable[..., Sink]
RAW = b"From: app@example.test\r\nTo: user@example.test\r\nSubject: Release me\r\n\r\nHi\r\n"


def send(sink: Sink) -> str:
    host, port = sink.smtp_address
    with smtplib.SMTP(host, port) as client:
        client.sendmail("app@example.test", ["user@example.test"], RAW)
    return sink.store.ids()[0]


def test_release_from_the_message_view_with_a_recipient_dialog(
    page: Page, make_sink: MakeSink
) -> None:
    upstream = make_sink(auth_users=(("relay", "pw-Secret9"),), require_auth=True)
    host, port = upstream.smtp_address
    relay = RelaySettings(
        parse_upstream(f"smtp+starttls://relay:pw-Secret9@{host}:{port}?verify=off"),
        allow=r"@real\.test$",
    )
    sink = make_sink(http_port=0, relay=relay)
    message_id = send(sink)
    page.goto(f"{sink.web_url}/message/{message_id}")
    button = page.locator("#release")
    expect(button).to_be_visible()
    button.click()
    dialog = page.locator("#release-dialog")
    expect(dialog).to_be_visible()
    expect(page.locator("#release-via")).to_have_text(
        f"Through {host}:{port}; allowed: @real\\.test$."
    )
    page.fill("#release-to", "someone@elsewhere.test")
    page.click("#release-send")
    expect(page.locator("#release-result")).to_contain_text("not allowed by the relay allowlist")
    page.fill("#release-to", "qa@real.test")
    page.click("#release-send")
    expect(page.locator("#release-result")).to_have_text("Released.")
    expect(page.locator("#m-relayed li")).to_have_count(1)
    expect(page.locator("#m-relayed li")).to_contain_text("qa@real.test: sent (250 accepted)")
    assert upstream.store.count() == 1
    assert "pw-Secret9" not in page.content()


def test_no_release_button_without_a_relay_and_no_chaos_button_without_chaos(
    page: Page, make_sink: MakeSink
) -> None:
    sink = make_sink(http_port=0)
    message_id = send(sink)
    page.goto(f"{sink.web_url}/message/{message_id}")
    expect(page.locator("#m-subject")).to_have_text("Release me")
    expect(page.locator("#release")).to_be_hidden()
    expect(page.locator("#faults-button")).to_be_hidden()


def test_chaos_settings_show_triggers_and_rules_and_save(page: Page, make_sink: MakeSink) -> None:
    sink = make_sink(http_port=0, enable_chaos=True)
    sink.faults.reject_recipient(re.compile("^gone@"), code=550, scope="tok1")
    page.goto(f"{sink.web_url}/")
    page.click("#faults-button")
    expect(page.locator("#faults-dialog")).to_be_visible()
    expect(page.locator("#fault-rules li")).to_contain_text(
        "reject_recipient at rcpt (^gone@) for +tok1"
    )
    page.fill("input[name='Recipient.Probability']", "100")
    page.fill("input[name='Recipient.ErrorCode']", "452")
    page.click("#chaos-save")
    expect(page.locator("#chaos-result")).to_have_text("Saved.")
    triggers: Any = sink.chaos.as_json()
    assert triggers["Recipient"] == {"ErrorCode": 452, "Probability": 100}
    page.locator("#fault-rules button", has_text="Remove").click()
    expect(page.locator("#fault-rules li")).to_have_text("none")
    assert sink.faults.rules() == []


def test_release_the_picked_messages_from_the_bulk_bar(page: Page, make_sink: MakeSink) -> None:
    upstream = make_sink()
    host, port = upstream.smtp_address
    relay = RelaySettings(parse_upstream(f"smtp://{host}:{port}"))
    sink = make_sink(http_port=0, relay=relay)
    for _ in range(3):
        send(sink)
    page.goto(f"{sink.web_url}/")
    expect(page.locator("#list > li")).to_have_count(3)
    page.locator("#list > li").nth(0).locator("input.pick").click()
    page.locator("#list > li").nth(1).locator("input.pick").click()
    page.click("#bulk-release")
    expect(page.locator("#release-title")).to_have_text("Release 2 messages")
    page.fill("#release-to", "qa@real.test")
    page.click("#release-send")
    expect(page.locator("#release-result")).to_have_text("Released 2 of 2.")
    assert upstream.store.count() == 2
