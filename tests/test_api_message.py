"""One message over the API: JSON, read marking and peek, headers, raw, parts, views."""

from __future__ import annotations

import base64
import hashlib

import pytest
from api_helpers import Api

pytest_plugins = ["conftest_api"]

PIXEL = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)


def rich_message() -> bytes:
    """Return a message with text, HTML (with a cid image and a remote image) and an attachment."""
    pixel = base64.b64encode(PIXEL).decode()
    return (
        "From: Alice <alice@example.test>\r\n"
        "To: Bob <bob@example.test>\r\n"
        "Subject: =?utf-8?q?Gr=C3=BC=C3=9Fe?=\r\n"
        "Message-ID: <rich@example.test>\r\n"
        "Date: Wed, 31 Jan 2024 10:00:00 +0000\r\n"
        "List-Unsubscribe: <https://example.test/u>, <mailto:u@example.test>\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/mixed; boundary="mixed"\r\n\r\n'
        "--mixed\r\n"
        'Content-Type: multipart/related; boundary="rel"\r\n\r\n'
        "--rel\r\n"
        'Content-Type: multipart/alternative; boundary="alt"\r\n\r\n'
        "--alt\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nPlain body\r\n"
        "--alt\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
        '<p>HTML body <img src="cid:logo@x"> <img src="https://tracker.test/p.gif"></p>\r\n'
        "--alt--\r\n"
        "--rel\r\nContent-Type: image/png\r\nContent-ID: <logo@x>\r\n"
        "Content-Disposition: inline\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        f"{pixel}\r\n"
        "--rel--\r\n"
        "--mixed\r\n"
        "Content-Type: text/html\r\n"
        "Content-Disposition: attachment; filename*=utf-8''%22evil%22%0D%0Arep%C3%A9rt.html\r\n\r\n"
        "<script>alert(1)</script>\r\n"
        "--mixed--\r\n"
    ).encode()


def test_get_message_returns_mailpit_fields_and_marks_it_read(api: Api) -> None:
    stored = api.deliver(rich_message(), rcpts=("bob@example.test", "hidden@example.test"))
    data = api.get_json(f"/api/v1/message/{stored.id}")
    assert data["ID"] == stored.id
    assert data["Subject"] == "Grüße"
    assert data["Text"].strip() == "Plain body"
    assert "HTML body" in data["HTML"]
    assert data["Date"] == "2024-01-31T10:00:00.000Z"
    assert data["MessageID"] == "rich@example.test"
    assert data["ListUnsubscribe"]["Links"] == ["https://example.test/u", "mailto:u@example.test"]
    assert [p["ContentID"] for p in data["Inline"]] == ["logo@x"]
    assert data["Inline"][0]["Checksums"]["SHA256"] == hashlib.sha256(PIXEL).hexdigest()
    assert len(data["Attachments"]) == 1
    assert data["Envelope"]["RcptTo"] == ["bob@example.test", "hidden@example.test"]
    assert api.mailbox.store.get(stored.id).read is True  # type: ignore[union-attr]


def test_peek_reads_a_message_without_marking_it_read(api: Api) -> None:
    stored = api.deliver()
    data = api.get_json(f"/api/v1/message/{stored.id}?peek=1")
    assert data["Read"] is False
    assert api.mailbox.store.get(stored.id).read is False  # type: ignore[union-attr]


def test_latest_is_the_newest_message_or_the_newest_matching_query(api_any: Api) -> None:
    wanted = api_any.deliver(subject="wanted")
    newest = api_any.deliver(subject="other")
    assert api_any.get_json("/api/v1/message/latest?peek=1")["ID"] == newest.id
    by_query = api_any.get_json("/api/v1/message/latest?query=subject:wanted&peek=1")
    assert by_query["ID"] == wanted.id
    api_any.get_json("/api/v1/message/latest?query=subject:nothing", status=404)


def test_latest_in_an_empty_mailbox_is_a_404(api: Api) -> None:
    assert "no message" in api.get_json("/api/v1/message/latest", status=404)["Error"]


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/message/NOPE",
        "/api/v1/message/NOPE/headers",
        "/api/v1/message/NOPE/raw",
        "/api/v1/message/NOPE/part/1",
        "/view/NOPE.html",
        "/view/NOPE.txt",
        "/api/v1/message/" + "X" * 5000,
    ],
)
def test_unknown_message_is_a_404(api: Api, path: str) -> None:
    response = api.client.get(path)
    assert response.status_code == 404
    assert response.get_json()["Error"]


def test_headers_are_raw_values_under_canonical_names_sorted(api: Api) -> None:
    stored = api.deliver(rich_message())
    headers = api.get_json(f"/api/v1/message/{stored.id}/headers")
    assert list(headers) == sorted(headers)
    assert headers["Message-Id"] == ["<rich@example.test>"]
    assert headers["Subject"] == ["=?utf-8?q?Gr=C3=BC=C3=9Fe?="]
    assert headers["Mime-Version"] == ["1.0"]


def test_raw_returns_the_exact_bytes_and_dl_downloads_them(api: Api) -> None:
    raw = rich_message()
    stored = api.deliver(raw)
    response = api.client.get(f"/api/v1/message/{stored.id}/raw")
    assert response.data == raw
    assert response.mimetype == "text/plain"
    download = api.client.get(f"/api/v1/message/{stored.id}/raw?dl=1")
    assert download.headers["Content-Disposition"] == f'attachment; filename="{stored.id}.eml"'


def test_inline_part_is_served_with_its_type(api: Api) -> None:
    stored = api.deliver(rich_message())
    inline = api.get_json(f"/api/v1/message/{stored.id}?peek=1")["Inline"][0]
    response = api.client.get(f"/api/v1/message/{stored.id}/part/{inline['PartID']}")
    assert response.status_code == 200
    assert response.data == PIXEL
    assert response.mimetype == "image/png"
    assert response.headers["Content-Disposition"].startswith("inline;")


def test_html_attachment_is_sandboxed_and_its_filename_cannot_break_the_header(api: Api) -> None:
    stored = api.deliver(rich_message())
    part = api.get_json(f"/api/v1/message/{stored.id}?peek=1")["Attachments"][0]
    response = api.client.get(f"/api/v1/message/{stored.id}/part/{part['PartID']}")
    assert response.headers["Content-Security-Policy"].startswith("sandbox")
    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith('attachment; filename="')
    assert "\r" not in disposition
    assert "\n" not in disposition
    assert disposition.count('"') == 2
    assert "filename*=UTF-8''" in disposition


def test_unknown_part_is_a_404(api: Api) -> None:
    stored = api.deliver()
    assert api.client.get(f"/api/v1/message/{stored.id}/part/9.9").status_code == 404


def test_view_html_is_sandboxed_with_cid_images_rewritten(api: Api) -> None:
    stored = api.deliver(rich_message())
    response = api.client.get(f"/view/{stored.id}.html")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert f'src="/api/v1/message/{stored.id}/part/' in html
    csp = response.headers["Content-Security-Policy"]
    assert csp.startswith("sandbox")
    assert "allow-scripts" not in csp
    assert "https:" not in csp  # remote images blocked
    assert api.mailbox.store.get(stored.id).read is False  # type: ignore[union-attr]


def test_view_html_allows_remote_content_only_when_asked(api: Api) -> None:
    stored = api.deliver(rich_message())
    csp = api.client.get(f"/view/{stored.id}.html?remote=1").headers["Content-Security-Policy"]
    assert f"img-src data: cid: http://localhost/api/v1/message/{stored.id}/part/ " in csp
    assert "https:" in csp
    assert "allow-scripts" not in csp


def test_view_html_of_a_text_only_message_is_a_404(api: Api) -> None:
    stored = api.deliver()
    assert api.client.get(f"/view/{stored.id}.html").status_code == 404


def test_view_txt_and_latest(api: Api) -> None:
    api.deliver(rich_message())
    response = api.client.get("/view/latest.txt")
    assert response.get_data(as_text=True).strip() == "Plain body"
    assert response.mimetype == "text/plain"


def test_garbage_message_is_still_served(api: Api) -> None:
    stored = api.deliver(b"\x00\xff\xfe not a message at all \r\n\r\n\xc3")
    assert api.get_json(f"/api/v1/message/{stored.id}")["ID"] == stored.id
    assert api.client.get(f"/api/v1/message/{stored.id}/headers").status_code == 200
    assert api.client.get(f"/view/{stored.id}.txt").status_code == 200
