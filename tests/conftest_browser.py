"""Browser test fixtures: Debian's Chromium by path, a real sink, and SMTP sending helpers.

Test modules load this with ``pytest_plugins = ["conftest_browser"]`` and use
its helpers through the ``mailer`` and ``compose`` fixtures (importing this
module directly would stop pytest from registering it as a plugin); the lead
owns ``tests/conftest.py``.
"""

from __future__ import annotations

import shutil
import smtplib
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, sync_playwright

from mailsink.config import Settings
from mailsink.server import Sink

SCREENSHOTS = Path(__file__).resolve().parent.parent / "test-artifacts" / "screenshots"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


# Our own Playwright fixtures rather than pytest-playwright's: they are a few
# lines, launch Debian's Chromium by path (``playwright install`` cannot run
# here), and do not tie the suite to that plugin's fixture internals (its
# session ``base_url`` fixture broke under pytest 9.2).
CHROMIUM_ARGS = ["--no-sandbox", "--disable-dev-shm-usage", "--disable-background-networking"]


@pytest.fixture(scope="session")
def playwright_instance() -> Iterator[Playwright]:
    """Start Playwright once per test process."""
    with sync_playwright() as pw:
        yield pw


@pytest.fixture(scope="session")
def browser(playwright_instance: Playwright) -> Iterator[Browser]:
    """Launch one headless Chromium per test process."""
    launched = playwright_instance.chromium.launch(
        executable_path=shutil.which("chromium") or "/usr/bin/chromium", args=CHROMIUM_ARGS
    )
    yield launched
    launched.close()


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    """Open a fresh context per test: desktop size, downloads allowed."""
    made = browser.new_context(viewport=DESKTOP, accept_downloads=True)  # type: ignore[arg-type]
    yield made
    made.close()


@pytest.fixture
def page(context: BrowserContext) -> Page:
    """Open a page in the test's context."""
    return context.new_page()


@pytest.fixture(scope="module")
def ui_module_sink() -> Iterator[Sink]:
    """Run one sink (memory store, free ports, no STARTTLS) for a test module."""
    sink = Sink(Settings(smtp_port=0, http_port=0, tls=False)).start()
    yield sink
    sink.stop()


@pytest.fixture
def ui_sink(ui_module_sink: Sink) -> Sink:
    """Return the module's sink with an empty mailbox."""
    ui_module_sink.mailbox.clear()
    return ui_module_sink


def build_message(
    subject: str = "Hello",
    sender: str = "Alice Sender <alice@example.test>",
    to: str = "Bob <bob@example.test>",
    text: str | None = "Hi Bob, this is the plain text body.",
    html: str | None = None,
    attachments: tuple[tuple[str, str, bytes], ...] = (),
    headers: dict[str, str] | None = None,
) -> EmailMessage:
    """Build a message with optional HTML body and (filename, mime type, data) attachments."""
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    for name, value in (headers or {}).items():
        msg[name] = value
    msg.set_content(text or "")
    if html is not None:
        msg.add_alternative(html, subtype="html")
    for filename, mime, data in attachments:
        maintype, subtype = mime.split("/", 1)
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    return msg


class Mailer:
    """Send mail to one sink over SMTP on loopback, as an application would."""

    def __init__(self, sink: Sink) -> None:
        self.sink = sink

    build = staticmethod(build_message)

    def send(
        self, msg: EmailMessage | None = None, rcpts: list[str] | None = None, **kw: Any
    ) -> None:
        """Send one message (built from keyword arguments when not given)."""
        msg = msg or build_message(**kw)
        host, port = self.sink.smtp_address
        with smtplib.SMTP(host, port, timeout=10) as smtp:
            smtp.send_message(msg, to_addrs=rcpts)

    def send_many(self, count: int, prefix: str = "Message") -> None:
        """Send several plain messages over one SMTP connection, oldest first."""
        host, port = self.sink.smtp_address
        with smtplib.SMTP(host, port, timeout=30) as smtp:
            for i in range(count):
                smtp.send_message(build_message(subject=f"{prefix} {i:03d}", text=f"body {i}"))


@pytest.fixture
def mailer(ui_sink: Sink) -> Mailer:
    """Return a sender of mail to the test's sink."""
    return Mailer(ui_sink)


@pytest.fixture
def compose() -> Any:
    """Return the message builder (subject, sender, to, text, html, attachments, headers)."""
    return build_message


@pytest.fixture
def screenshot() -> Any:
    """Return a function that saves a page screenshot under test-artifacts/screenshots/."""
    return save_screenshot


def save_screenshot(page: Any, name: str) -> Path:
    """Save a full-page screenshot under test-artifacts/screenshots/ and return its path."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path))
    return path
