"""The Checks tab in headless Chromium: verdicts, HTML score, spam score, List-Unsubscribe, links.

The sink runs with a real spamd and a ``--dns-records`` file holding the DKIM
key the test signs with; the message's own text (a hostile List-Unsubscribe
header, feature names) must show as text, never run.
"""

from __future__ import annotations

import re
import smtplib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dkim
import pytest
from playwright.sync_api import Dialog, Page, expect

from helpers import dkim_key
from mailsink.config import Settings
from mailsink.server import Sink
from spamd import Spamd

pytest_plugins = ["conftest_browser"]
pytestmark = pytest.mark.browser

GTUBE = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X"
HOSTILE = "<img src=x onerror=alert(1)>"


@pytest.fixture(scope="module")
def signing_key(tmp_path_factory: pytest.TempPathFactory) -> tuple[bytes, Path]:
    """Return (PEM private key, records file publishing its public key and policies)."""
    pem, public = dkim_key()
    records = tmp_path_factory.mktemp("dns") / "records.zone"
    records.write_text(
        f's1._domainkey.shop.example TXT "v=DKIM1; k=rsa; p={public}"\n'
        'shop.example TXT "v=spf1 ip4:127.0.0.1 -all"\n'
        '_dmarc.shop.example TXT "v=DMARC1; p=reject"\n'
    )
    return pem, records


@pytest.fixture(scope="module")
def checks_sink(spamd: Spamd, signing_key: tuple[bytes, Path]) -> Iterator[Sink]:
    """Run a sink with the spam check and the records file, real DNS off."""
    settings = Settings(
        smtp_port=0,
        http_port=0,
        tls=False,
        spamassassin=spamd.address,
        dns_records=str(signing_key[1]),
        dns=False,
    )
    sink = Sink(settings).start()
    yield sink
    sink.stop()


def _send(sink: Sink, pem: bytes, body_extra: str = "") -> None:
    html = (
        "<html><body><div style='display:flex;border-radius:4px'>"
        f"<p>Order confirmed {body_extra}</p></div></body></html>"
    )
    message = (
        "From: Shop <orders@shop.example>\r\nTo: bob@example.test\r\nSubject: Order 42\r\n"
        f"List-Unsubscribe: {HOSTILE}, <ftp://x>\r\nMIME-Version: 1.0\r\n"
        "Content-Type: text/html; charset=utf-8\r\n\r\n" + html + "\r\n"
    ).encode()
    signed = dkim.sign(message, b"s1", b"shop.example", pem) + message
    host, port = sink.smtp_address
    with smtplib.SMTP(host, port, timeout=10) as client:
        client.sendmail("bounces@shop.example", ["bob@example.test"], signed)


def test_the_checks_tab_shows_every_verdict_as_text(
    page: Page, checks_sink: Sink, signing_key: tuple[bytes, Path], screenshot: Any
) -> None:
    checks_sink.mailbox.clear()
    _send(checks_sink, signing_key[0], GTUBE)
    dialogs: list[str] = []

    def dismiss(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", dismiss)
    message_id = checks_sink.store.list(0, 1).items[0].id
    page.goto(f"{checks_sink.web_url}/message/{message_id}")
    # A tab clicked before the message has rendered is reset to HTML by that render.
    expect(page.locator("#m-subject")).to_have_text("Order 42")
    page.locator("#tab-checks").click()
    checks = page.locator("#m-checks")
    dkim_row = checks.locator("#check-auth tr[data-method=dkim]")
    expect(dkim_row).to_contain_text("shop.example")
    expect(dkim_row.locator(".verdict")).to_have_text("pass")
    expect(checks.locator("#check-auth tr[data-method=spf] .verdict")).to_have_text("pass")
    expect(checks.locator("#check-auth tr[data-method=dmarc] .verdict")).to_have_text("pass")
    expect(checks.locator("#check-auth")).to_contain_text("Authentication-Results: mailsink;")
    expect(checks.locator("#check-html-score")).to_have_text(re.compile(r"\d+(\.\d)?% supported"))
    flex = checks.locator("#check-html li.feature[data-slug=css-display-flex] a")
    expect(flex).to_have_attribute("href", "https://www.caniemail.com/features/css-display-flex/")
    clients = checks.locator("#check-html table.clients")
    expect(clients).to_contain_text("Outlook Windows")
    checks.locator("#check-auth").scroll_into_view_if_needed()
    screenshot(page, "checks-tab-top")
    score = checks.locator("#check-html-score")
    all_platforms = score.inner_text()
    for platform in ("windows", "windows-mail", "outlook-com", "macos", "ios"):
        checks.locator(f"#check-platforms input[value={platform}]").uncheck()
    expect(clients).not_to_contain_text("Windows")
    expect(clients).to_contain_text("Android")
    expect(score).not_to_have_text(all_platforms)  # recomputed over the platforms left
    page.reload()  # the choice is remembered
    expect(page.locator("#m-subject")).to_have_text("Order 42")
    page.locator("#tab-checks").click()
    expect(page.locator("#check-platforms input[value=windows]")).not_to_be_checked()
    expect(page.locator("#check-platforms input[value=android]")).to_be_checked()
    expect(checks.locator("#check-spam-score")).to_have_text(re.compile(r"Score 100\d"))
    expect(checks.locator("#check-spam")).to_contain_text("GTUBE")
    unsubscribe = checks.locator("#check-unsubscribe")
    expect(unsubscribe.locator(".verdict")).to_have_text("fail")
    expect(unsubscribe).to_contain_text(HOSTILE)  # shown as text, not markup
    assert page.locator("#m-checks img").count() == 0
    checks.locator("#check-links").click()
    expect(checks.locator("#check-links-results")).to_contain_text("--link-check")
    screenshot(page, "checks-tab")
    assert dialogs == []


def test_a_tampered_message_shows_dkim_fail_with_the_reason(
    page: Page, checks_sink: Sink, signing_key: tuple[bytes, Path]
) -> None:
    checks_sink.mailbox.clear()
    pem = signing_key[0]
    message = (
        b"From: Shop <orders@shop.example>\r\nTo: bob@example.test\r\nSubject: Tampered\r\n\r\n"
        b"Original body\r\n"
    )
    signed = dkim.sign(message, b"s1", b"shop.example", pem) + message
    host, port = checks_sink.smtp_address
    with smtplib.SMTP(host, port, timeout=10) as client:
        client.sendmail(
            "bounces@other.example", ["bob@example.test"], signed.replace(b"Original", b"Changed")
        )
    message_id = checks_sink.store.list(0, 1).items[0].id
    page.goto(f"{checks_sink.web_url}/message/{message_id}")
    # A tab clicked before the message has rendered is reset to HTML by that render.
    expect(page.locator("#m-subject")).to_have_text("Tampered")
    page.locator("#tab-checks").click()
    dkim_row = page.locator("#check-auth tr[data-method=dkim]")
    expect(dkim_row.locator(".verdict")).to_have_text("fail")
    expect(dkim_row).to_contain_text("body hash mismatch")
    expect(page.locator("#check-auth tr[data-method=dmarc] .verdict")).to_have_text("fail")
    expect(page.locator("#check-html")).to_contain_text("no HTML body")
