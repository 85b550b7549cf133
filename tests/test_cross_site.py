"""Cross-site requests to the API are refused; a MailHog page has a memory budget (issue 11.5)."""

from __future__ import annotations

from api_helpers import Api, make_api

from mailsink.config import Settings
from mailsink.store import MemoryStore
from mailsink.web.mailhog import MAX_PAGE_BYTES

pytest_plugins = ["conftest_api"]

HOST = "127.0.0.1:8025"


def _get(api: Api, path: str, **headers: str) -> int:
    return int(api.client.get(path, headers={"Host": HOST, **headers}).status_code)


def test_a_cross_site_img_cannot_read_or_mark_a_message(api: Api) -> None:
    """The attack: any page's <img src=".../api/v1/message/ID"> marked the message read."""
    message = api.deliver(subject="private")
    path = f"/api/v1/message/{message.id}"
    assert _get(api, path, **{"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Dest": "image"}) == 403
    assert _get(api, path, **{"Sec-Fetch-Site": "same-site"}) == 403
    stored = api.mailbox.store.get(message.id)
    assert stored is not None and stored.read is False
    assert _get(api, "/api/v2/messages?limit=1000", **{"Sec-Fetch-Site": "cross-site"}) == 403
    assert _get(api, "/api/v1/events", **{"Sec-Fetch-Site": "cross-site"}) == 403


def test_an_origin_of_another_site_is_refused_without_fetch_metadata(api: Api) -> None:
    assert _get(api, "/api/v1/messages", Origin="http://evil.example") == 403
    assert _get(api, "/api/v1/messages", Origin="null") == 403
    assert _get(api, "/api/v1/messages", Origin=f"http://{HOST}") == 200
    response = api.client.delete(
        "/api/v1/messages", headers={"Host": HOST, "Origin": "http://evil.example"}
    )
    assert response.status_code == 403


def test_the_ui_non_browser_clients_and_navigations_pass(api: Api) -> None:
    assert _get(api, "/api/v1/messages", **{"Sec-Fetch-Site": "same-origin"}) == 200
    assert _get(api, "/api/v1/messages", **{"Sec-Fetch-Site": "none"}) == 200
    assert _get(api, "/api/v1/messages") == 200  # curl, Mailpit's client libraries
    assert _get(api, "/", **{"Sec-Fetch-Site": "cross-site"}) in (200, 302)  # a link to the UI


def test_inline_images_of_the_sandboxed_view_still_load(api: Api) -> None:
    raw = (
        b"Content-Type: multipart/related; boundary=b\r\n\r\n--b\r\n"
        b"Content-Type: text/html\r\n\r\n<img src=cid:logo>\r\n--b\r\n"
        b"Content-Type: image/png\r\nContent-ID: <logo>\r\n\r\nPNG\r\n--b--\r\n"
    )
    message = api.deliver(raw)
    path = f"/api/v1/message/{message.id}/part/2"
    assert _get(api, path, **{"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Dest": "image"}) == 200


def test_origins_allowed_with_cors_origin_pass() -> None:
    api = make_api(MemoryStore(), Settings(cors_origins=("http://app.example:3000",)))
    try:
        headers = {"Sec-Fetch-Site": "cross-site", "Origin": "http://app.example:3000"}
        assert _get(api, "/api/v1/messages", **headers) == 200
        assert _get(api, "/api/v1/messages", **{**headers, "Origin": "http://other.example"}) == 403
    finally:
        api.close()


def test_a_mailhog_page_stops_at_its_byte_budget(api: Api) -> None:
    """The attack: ?limit=1000 over 190 MB of mail grew the process by 1.2 GB."""
    big = 2 * 1024 * 1024
    for n in range(12):
        api.deliver(subject=f"big {n}", body="x" * big)
    page = api.get_json("/api/v2/messages?limit=1000")
    assert page["total"] == 12
    assert 1 <= page["count"] < 12
    assert page["count"] * big <= MAX_PAGE_BYTES + big
    rest = api.get_json(f"/api/v2/messages?start={page['count']}&limit=1000")
    assert rest["count"] >= 1
