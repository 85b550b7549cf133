"""How the shell loads: versioned immutable assets, every module preloaded, API calls early."""

from __future__ import annotations

import html as markup
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from mailsink.config import Settings
from mailsink.ingest import Ingestor
from mailsink.mailbox import Mailbox
from mailsink.store import MemoryStore
from mailsink.web import create_app
from mailsink.web.assets import IMMUTABLE

STATIC = Path(__file__).resolve().parent.parent / "web" / "static" / "ui"
IMPORT = re.compile(r'^import\b[^;]*?from "\./([\w.-]+\.js)";', re.MULTILINE | re.DOTALL)


@pytest.fixture
def client() -> Iterator[FlaskClient]:
    """Return a test client of an app over an empty memory mailbox."""
    mailbox = Mailbox(MemoryStore())
    ingestor = Ingestor(mailbox).start()
    app: Flask = create_app(mailbox, Settings(http_port=0), ingestor=ingestor)
    yield app.test_client()
    ingestor.close()


def shell_links(html: str, attribute: str, rel: str | None = None) -> list[str]:
    """Return the `attribute` values of the shell's tags (only ``<link rel=rel>`` when given)."""
    tags = re.findall(r"<(?:link|script)\b[^>]*>", html)
    if rel is not None:
        tags = [tag for tag in tags if f'rel="{rel}"' in tag]
    found = (re.search(rf'\s{attribute}="([^"]+)"', tag) for tag in tags)
    return [markup.unescape(m.group(1)) for m in found if m]


def static_imports(name: str) -> set[str]:
    """Return every module `name` imports, directly or through others (static imports only)."""
    seen: set[str] = set()
    todo = [name]
    while todo:
        for found in IMPORT.findall((STATIC / todo.pop()).read_text()):
            if found not in seen:
                seen.add(found)
                todo.append(found)
    return seen


def test_shell_assets_are_versioned_and_cached_for_good(client: FlaskClient) -> None:
    html = client.get("/").get_data(as_text=True)
    urls = [u for u in shell_links(html, "href") + shell_links(html, "src") if "/ui/" in u]
    assert len(urls) >= 18  # the icon, the stylesheet, app.js and its modules
    versions = {re.fullmatch(r"/ui/assets/([0-9a-f]+)/[\w.-]+", url).group(1) for url in urls}  # type: ignore[union-attr]
    assert len(versions) == 1
    for url in urls:
        response = client.get(url)
        response.close()
        assert response.status_code == 200, url
        assert response.headers["Cache-Control"] == IMMUTABLE
        assert "script-src 'self'" in response.headers["Content-Security-Policy"]
        assert response.headers["X-Content-Type-Options"] == "nosniff"
    same = client.get(urls[0].replace(next(iter(versions)), "0" * 12))
    same.close()
    assert same.status_code == 200
    assert "immutable" not in same.headers.get("Cache-Control", "")  # an older page's link
    missing = client.get(f"/ui/assets/{next(iter(versions))}/no-such.js")
    assert missing.status_code == 404


def test_every_module_the_page_imports_is_preloaded(client: FlaskClient) -> None:
    """Else each level of imports waits for the one above it to arrive before it is asked for."""
    html = client.get("/").get_data(as_text=True)
    preloaded = {url.rsplit("/", 1)[1] for url in shell_links(html, "href", "modulepreload")}
    needed = static_imports("app.js")
    assert {"api.js", "html_check.js", "tags.js"} <= needed  # the parser finds nested imports
    assert preloaded == needed


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/", ["/api/v1/messages?start=0&limit=50"]),
        ("/?start=150", ["/api/v1/messages?start=150&limit=50"]),
        ("/message/01ABC", ["/api/v1/messages?start=0&limit=50", "/api/v1/message/01ABC"]),
        ("/message/latest?q=from%3Aa", ["/api/v1/message/latest"]),
        ("/?q=subject%3Ahello", []),  # the search URL carries the browser's time zone
        ("/?start=-5", []),
        ("/?start=12abc", []),
        ("/?start=%C2%B2", []),  # "²" is a digit to str.isdigit, not to int() or parseInt
        ("/?start=%D9%A1%D9%A2", []),  # Arabic-Indic 12: int() reads it, parseInt does not
        ("/message/a%20b", ["/api/v1/messages?start=0&limit=50"]),
    ],
)
def test_shell_starts_the_first_api_requests(
    client: FlaskClient, path: str, expected: list[str]
) -> None:
    response = client.get(path)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    preloads = [t for t in re.findall(r"<link\b[^>]*>", html) if 'rel="preload"' in t]
    assert all('as="fetch"' in t and "crossorigin" in t for t in preloads)
    assert shell_links(html, "href", "preload") == expected
