"""CSP and framing on every response, active attachments as downloads, bidi names (issue 11.10)."""

from __future__ import annotations

from api_helpers import Api

pytest_plugins = ["conftest_api"]


def _attachment(content_type: str, filename: str, disposition: str = "inline") -> bytes:
    return (
        "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n"
        "Content-Type: text/plain\r\n\r\nsee attached\r\n--b\r\n"
        f"Content-Type: {content_type}\r\n"
        f"Content-Disposition: {disposition}; filename*=UTF-8''{filename}\r\n\r\n"
        "<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>\r\n--b--\r\n"
    ).encode()


def test_json_and_raw_responses_carry_a_csp_and_cannot_be_framed(api: Api) -> None:
    message = api.deliver(subject="framed?")
    for path in (
        "/api/v1/messages",
        f"/api/v1/message/{message.id}",
        f"/api/v1/message/{message.id}/raw",
        f"/api/v1/message/{message.id}/headers",
        "/api/v1/message/nonexistent",
        f"/view/{message.id}.txt",
    ):
        policy = api.client.get(path).headers.get("Content-Security-Policy", "")
        assert "frame-ancestors 'none'" in policy, (path, policy)
        assert "default-src 'none'" in policy, (path, policy)


def test_the_html_view_may_be_framed_only_by_the_ui(api: Api) -> None:
    message = api.deliver(b"Content-Type: text/html\r\n\r\n<p>hi</p>\r\n")
    policy = api.client.get(f"/view/{message.id}.html").headers["Content-Security-Policy"]
    assert "frame-ancestors 'self'" in policy and "sandbox" in policy


def test_an_svg_attachment_marked_inline_is_served_as_a_download(api: Api) -> None:
    message = api.deliver(_attachment("image/svg+xml", "logo.svg"))
    response = api.client.get(f"/api/v1/message/{message.id}/part/2")
    assert response.headers["Content-Disposition"].startswith("attachment;")
    for kind in ("text/html", "application/xhtml+xml", "text/xml", "application/javascript"):
        message = api.deliver(_attachment(kind, "page"))
        disposition = api.client.get(f"/api/v1/message/{message.id}/part/2").headers
        assert disposition["Content-Disposition"].startswith("attachment;"), kind


def test_bidi_controls_in_file_names_are_neutralised(api: Api) -> None:
    # "invoice\u202egpj.exe" shows as "invoiceexe.jpg" where the override is honoured.
    name = "invoice%E2%80%AEgpj.exe"
    message = api.deliver(_attachment("application/octet-stream", name, "attachment"))
    data = api.get_json(f"/api/v1/message/{message.id}")
    name = data["Attachments"][0]["FileName"]
    assert "\u202e" not in name and name == "invoice\ufffdgpj.exe"
    disposition = api.client.get(f"/api/v1/message/{message.id}/part/2").headers[
        "Content-Disposition"
    ]
    assert "%E2%80%AE" not in disposition and "\u202e" not in disposition
