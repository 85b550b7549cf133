"""End to end: smtplib sends to a real sink, the API answers over real HTTP (waitress)."""

from __future__ import annotations

import http.client
import json
import threading
import time
import urllib.error
import urllib.request
from typing import Any

from api_helpers import smtp_send

from mailsink.server import Sink
from mailsink.web.openapi import openapi_document

pytest_plugins = ["conftest_api"]


def request(
    sink: Sink, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    """Make one HTTP request to the sink's web server."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(f"{sink.web_url}{path}", data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    for name, value in (headers or {}).items():
        req.add_header(name, value)
    try:
        with urllib.request.urlopen(req, timeout=15) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def get_json(sink: Sink, path: str) -> Any:
    """GET a path and return its JSON, expecting 200."""
    status, _headers, body = request(sink, "GET", path)
    assert status == 200, body
    return json.loads(body)


MESSAGE = (
    b"From: App <app@example.test>\r\nTo: Jane <jane@example.test>\r\n"
    b"Subject: Welcome Jane\r\nX-Tags: signup\r\nMIME-Version: 1.0\r\n"
    b'Content-Type: multipart/alternative; boundary="b"\r\n\r\n'
    b"--b\r\nContent-Type: text/plain\r\n\r\nConfirm at https://app.test/c/1\r\n"
    b'--b\r\nContent-Type: text/html\r\n\r\n<a href="https://app.test/c/1">Confirm</a>\r\n--b--\r\n'
)


def test_smtp_message_is_listed_searched_read_and_deleted_over_http(live_sink: Sink) -> None:
    smtp_send(live_sink, ["jane@example.test", "bcc@example.test"], MESSAGE, "app@example.test")
    listed = get_json(live_sink, "/api/v1/messages")
    assert listed["total"] == 1
    summary = listed["messages"][0]
    assert summary["Subject"] == "Welcome Jane"
    assert summary["Tags"] == ["signup"]
    assert summary["Envelope"]["RcptTo"] == ["jane@example.test", "bcc@example.test"]
    assert summary["Envelope"]["Peer"].startswith("127.0.0.1:")
    found = get_json(live_sink, "/api/v1/search?query=bcc:%3Dbcc@example.test")
    assert found["messages_count"] == 1
    message = get_json(live_sink, f"/api/v1/message/{summary['ID']}")
    assert "Confirm" in message["HTML"]
    assert get_json(live_sink, "/api/v1/messages")["unread"] == 0
    status, headers, body = request(live_sink, "GET", "/view/latest.html")
    assert status == 200
    assert headers["Content-Security-Policy"].startswith("sandbox")
    assert b"https://app.test/c/1" in body
    status, _headers, raw = request(live_sink, "GET", f"/api/v1/message/{summary['ID']}/raw")
    assert raw == MESSAGE
    status, _headers, body = request(live_sink, "DELETE", "/api/v1/messages", {"IDs": []})
    assert (status, body) == (200, b"ok")
    assert get_json(live_sink, "/api/v1/messages")["total"] == 0


def test_wait_returns_when_an_smtp_message_arrives(live_sink: Sink) -> None:
    def send_later() -> None:
        time.sleep(0.3)
        smtp_send(live_sink, ["late@example.test"], MESSAGE)

    thread = threading.Thread(target=send_later)
    thread.start()
    started = time.monotonic()
    data = get_json(live_sink, "/api/v1/wait?query=addressed:%3Dlate@example.test&timeout=20")
    thread.join()
    assert time.monotonic() - started < 10
    assert data["messages_count"] == 1
    assert data["messages"][0]["Envelope"]["RcptTo"] == ["late@example.test"]


def test_event_stream_announces_an_smtp_message(live_sink: Sink) -> None:
    host, port = live_sink.http_address  # type: ignore[misc]
    conn = http.client.HTTPConnection(host, port, timeout=10)
    try:
        conn.request("GET", "/api/v1/events")
        response = conn.getresponse()
        assert response.readline() == b"retry: 2000\n"
        smtp_send(live_sink, ["jane@example.test"], MESSAGE)
        lines: list[bytes] = []
        while not lines or lines[-1] != b"\n" or not any(b"event:" in x for x in lines):
            lines.append(response.readline())
        frame = b"".join(lines).decode()
        assert "event: new" in frame
        data = json.loads(frame.split("data: ", 1)[1].split("\n", 1)[0])
        assert data["Subject"] == "Welcome Jane"
        assert data["Total"] == 1
    finally:
        conn.close()


def test_send_api_message_is_received_like_smtp_mail(live_sink: Sink) -> None:
    status, _headers, body = request(
        live_sink,
        "POST",
        "/api/v1/send",
        {"From": {"Email": "a@example.test"}, "To": [{"Email": "b@example.test"}], "Text": "hi"},
    )
    assert status == 200, body
    message_id = json.loads(body)["ID"]
    assert live_sink.store.get(message_id) is not None


def test_foreign_host_header_is_refused_by_the_real_server(live_sink: Sink) -> None:
    status, _headers, body = request(
        live_sink, "GET", "/api/v1/messages", headers={"Host": "attacker.example"}
    )
    assert status == 400
    assert b"Host header" in body


def test_huge_body_is_refused_without_a_500(live_sink: Sink) -> None:
    limit = live_sink.settings.max_request_bytes
    host, port = live_sink.http_address  # type: ignore[misc]
    conn = http.client.HTTPConnection(host, port, timeout=15)
    try:
        conn.putrequest("POST", "/api/v1/send")
        conn.putheader("Content-Type", "application/json")
        conn.putheader("Content-Length", str(limit + 1))
        conn.endheaders()
        try:
            conn.send(b" " * (limit + 1))
            status = conn.getresponse().status
        except (BrokenPipeError, ConnectionResetError):
            status = 413  # the server closed the connection on the oversized body
        assert status == 413
    finally:
        conn.close()


def test_openapi_document_is_served_and_lists_every_api_route(live_sink: Sink) -> None:
    served = get_json(live_sink, "/api/v1/openapi.json")
    assert served == json.loads(json.dumps(openapi_document()))
    assert served["openapi"].startswith("3.")
    app = _app_of(live_sink)
    routes = set()
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith(("/api/", "/view/", "/livez", "/readyz")):
            path = rule.rule.replace("<path:tag>", "{Tag}").replace("<part_id>", "{PartID}")
            path = path.replace("<rule_id>", "{RuleID}")
            routes.add(path.replace("<message_id>", "{ID}"))
            for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}:
                key = path.replace("<message_id>", "{ID}")
                assert method.lower() in served["paths"][key], (method, key)
    assert routes <= set(served["paths"])


def _app_of(sink: Sink) -> Any:
    """Return the Flask app a sink's waitress server runs."""
    return sink.app
