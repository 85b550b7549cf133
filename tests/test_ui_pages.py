"""The UI's pages through Flask's test client: security headers, the shell, the part tree."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from mailsink.config import Settings
from mailsink.ingest import Ingestor
from mailsink.mailbox import Mailbox
from mailsink.message import Envelope
from mailsink.store import MemoryStore
from mailsink.web import create_app
from mailsink.web.state import app_state

pytest_plugins = ["conftest_browser"]

STATIC = Path(__file__).resolve().parent.parent / "web" / "static" / "ui"
TEMPLATES = Path(__file__).resolve().parent.parent / "web" / "templates" / "ui"


@pytest.fixture
def app() -> Iterator[Flask]:
    """Return an app over an empty memory mailbox, as if SMTP were on 127.0.0.1:2525."""
    mailbox = Mailbox(MemoryStore())
    ingestor = Ingestor(mailbox).start()
    app = create_app(
        mailbox, Settings(http_port=0), ingestor=ingestor, smtp_address=("127.0.0.1", 2525)
    )
    yield app
    ingestor.close()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    """Return a test client of the app."""
    return app.test_client()


def ingest(app: Flask, raw: bytes) -> str:
    """Store a message as the listener would; return its ID."""
    state = app_state(app)
    state.ingestor.ingest(raw, Envelope("a@example.test", ("b@example.test",), helo="client.test"))
    return str(state.mailbox.store.list(0, 1).items[0].id)


@pytest.mark.parametrize(
    "path", ["/", "/message/ANYTHING", "/ui/static/app.js", "/ui/static/ui.css"]
)
def test_ui_responses_carry_csp_framing_ban_nosniff_and_no_referrer(
    client: FlaskClient, path: str
) -> None:
    response = client.get(path)
    response.close()  # static files are streamed from an open file
    assert response.status_code == 200
    csp = response.headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp
    assert "script-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "no-referrer"


def test_page_has_no_inline_script_and_loads_module_from_same_origin(client: FlaskClient) -> None:
    html = client.get("/").get_data(as_text=True)
    scripts = re.findall(r"<script\b[^>]*>(.*?)</script>", html, re.DOTALL)
    assert scripts and all(body.strip() == "" for body in scripts)
    assert re.search(r'<script type="module" src="/ui/assets/[0-9a-f]+/app\.js"></script>', html)


def test_empty_state_shows_the_real_smtp_host_and_port(client: FlaskClient) -> None:
    html = client.get("/").get_data(as_text=True)
    assert '<code id="smtp-host">127.0.0.1</code>' in html
    assert '<code id="smtp-port">2525</code>' in html
    assert 'smtplib.SMTP("127.0.0.1", 2525)' in html
    assert "EMAIL_PORT = 2525" in html
    assert "MAIL_PORT=2525" in html


def test_message_iframe_is_sandboxed_without_scripts(client: FlaskClient) -> None:
    """Same-origin (to size the frame) only ever comes without scripts: see web/view.py."""
    html = client.get("/").get_data(as_text=True)
    iframe = re.search(r"<iframe\b[^>]*>", html, re.DOTALL)
    assert iframe is not None
    tag = iframe.group(0)
    sandbox = re.search(r'\ssandbox="([^"]*)"', tag)
    assert sandbox is not None
    assert set(sandbox.group(1).split()) == {
        "allow-same-origin",
        "allow-popups",
        "allow-popups-to-escape-sandbox",
    }
    assert "allow-scripts" not in tag
    assert 'referrerpolicy="no-referrer"' in tag


def test_ui_javascript_never_parses_strings_as_markup_or_code() -> None:
    forbidden = re.compile(
        r"innerHTML|outerHTML|insertAdjacentHTML|document\.write|\beval\(|new Function"
    )
    for path in STATIC.glob("*.js"):
        assert not forbidden.search(path.read_text()), path.name


def test_templates_use_no_inline_styles_or_event_handlers() -> None:
    for path in TEMPLATES.glob("*.html"):
        text = path.read_text()
        assert not re.search(r"\sstyle=|\son[a-z]+=", text), path.name


def test_ui_routes_refuse_state_changing_methods(client: FlaskClient) -> None:
    for method in ("post", "put", "delete"):
        response = getattr(client, method)("/")
        assert response.status_code == 405
        assert "Error" in response.get_json()


def test_part_tree_lists_the_mime_structure(app: Flask, client: FlaskClient, compose: Any) -> None:
    msg = compose(
        html="<p>hi</p>", attachments=(("report.pdf", "application/pdf", b"%PDF-1.4 data"),)
    )
    message_id = ingest(app, msg.as_bytes())
    data = client.get(f"/ui/message/{message_id}/tree").get_json()
    tree = data["Tree"]
    assert tree["ContentType"] == "multipart/mixed"
    alternative, attachment = tree["Children"]
    assert [c["ContentType"] for c in alternative["Children"]] == ["text/plain", "text/html"]
    assert attachment["FileName"] == "report.pdf"
    assert attachment["PartID"] == "2"
    assert attachment["Size"] == len(b"%PDF-1.4 data")


def test_part_tree_of_latest_and_of_unknown_message(
    app: Flask, client: FlaskClient, compose: Any
) -> None:
    assert client.get("/ui/message/latest/tree").status_code == 404
    message_id = ingest(app, compose().as_bytes())
    assert client.get("/ui/message/latest/tree").get_json()["ID"] == message_id
    missing = client.get("/ui/message/NOPE/tree")
    assert missing.status_code == 404
    assert missing.get_json() == {"Error": "message not found"}


def test_cross_site_form_cannot_delete_mail(app: Flask, client: FlaskClient, compose: Any) -> None:
    ingest(app, compose().as_bytes())
    # A hostile page can only send simple requests: a form POST, or a GET (img, link).
    client.post(
        "/api/v1/messages",
        data={"IDs": ""},
        headers={"Origin": "http://evil.test", "Content-Type": "application/x-www-form-urlencoded"},
    )
    client.get("/api/v1/messages", headers={"Origin": "http://evil.test"})
    assert app_state(app).mailbox.store.count() == 1


@pytest.mark.parametrize(
    ("cookie", "theme", "density"),
    [
        (None, "auto", "comfortable"),
        ("theme=dark&density=compact&notify=1", "dark", "compact"),
        ("theme=light", "light", "comfortable"),
        ('theme="><script>alert(1)</script>&density=tiny', "auto", "comfortable"),
        ("&".join(f"k{i}=v" for i in range(50)), "auto", "comfortable"),
        ("theme=dark&" + "x" * 500, "auto", "comfortable"),
    ],
)
def test_the_shell_paints_the_theme_and_density_of_the_prefs_cookie(
    client: FlaskClient, cookie: str | None, theme: str, density: str
) -> None:
    if cookie is not None:
        client.set_cookie("mailsink-prefs", cookie)
    html = client.get("/").get_data(as_text=True)
    assert f'<html lang="en" data-theme="{theme}" data-density="{density}">' in html
    assert "<script>alert" not in html
