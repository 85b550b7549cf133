"""Prometheus metrics at /metrics and Mailpit's RuntimeStats, counted from real traffic."""

from __future__ import annotations

import json
import smtplib
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest
from api_helpers import raw_message, smtp_send
from prometheus_client.parser import text_string_to_metric_families

from mailsink.config import Settings
from mailsink.server import Sink


@pytest.fixture
def sink() -> Iterator[Sink]:
    with Sink(Settings(smtp_port=0, http_port=0, tls=False, max_size=2000)) as running:
        yield running


def get(sink: Sink, path: str) -> bytes:
    with urllib.request.urlopen(f"{sink.web_url}{path}", timeout=5) as response:
        return bytes(response.read())


def samples(sink: Sink) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Return every sample of /metrics by name and labels."""
    text = get(sink, "/metrics").decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def _traffic(sink: Sink) -> None:
    """Two messages stored, one refused for its size, one for a bad address, one deleted."""
    smtp_send(sink, ["bob@example.test"], raw_message(subject="one"))
    smtp_send(sink, ["bob@example.test"], raw_message(subject="two"))
    host, port = sink.smtp_address
    with smtplib.SMTP(host, port, timeout=5) as client:
        with pytest.raises(smtplib.SMTPException):
            client.sendmail("a@example.test", ["b@example.test"], b"x" * 5000)
        assert client.mail("bad\x01@example.test")[0] == 501
    first = json.loads(get(sink, "/api/v1/messages"))["messages"][0]["ID"]
    request = urllib.request.Request(
        f"{sink.web_url}/api/v1/messages", method="DELETE",
        data=json.dumps({"IDs": [first]}).encode(), headers={"Content-Type": "application/json"},
    )  # fmt: skip
    urllib.request.urlopen(request, timeout=5).close()


def _eventually(check: object, timeout: float = 3.0) -> None:
    deadline = time.monotonic() + timeout
    while not check() and time.monotonic() < deadline:  # type: ignore[operator]
        time.sleep(0.02)


def test_metrics_count_messages_rejections_deletions_sessions_and_requests(sink: Sink) -> None:
    _traffic(sink)
    _eventually(lambda: samples(sink)[("mailsink_messages_deleted_total", ())] == 1)
    found = samples(sink)
    assert found[("mailsink_messages_received_total", ())] == 2
    assert found[("mailsink_messages_received_bytes_total", ())] > 0
    assert found[("mailsink_messages_rejected_total", (("reason", "size"),))] == 1
    assert found[("mailsink_messages_rejected_total", (("reason", "syntax"),))] == 1
    assert found[("mailsink_messages_deleted_total", ())] == 1
    assert found[("mailsink_messages", ())] == 1
    assert found[("mailsink_smtp_sessions_total", ())] == 3
    assert found[("mailsink_smtp_sessions_open", ())] == 0
    assert found[("mailsink_ingest_seconds_count", ())] == 2
    assert found[("mailsink_ingest_seconds_bucket", (("le", "+Inf"),))] == 2
    route = (("method", "GET"), ("route", "/api/v1/messages"), ("status", "200"))
    assert found[("mailsink_http_requests_total", route)] == 1


def test_runtime_stats_in_info_are_true(sink: Sink) -> None:
    _traffic(sink)
    _eventually(lambda: json.loads(get(sink, "/api/v1/info"))["RuntimeStats"]["MessagesDeleted"])
    stats = json.loads(get(sink, "/api/v1/info"))["RuntimeStats"]
    assert stats["SMTPAccepted"] == 2
    assert stats["SMTPAcceptedSize"] == sum(len(raw_message(subject=s)) for s in ("one", "two"))
    assert stats["SMTPRejected"] == 2
    assert stats["MessagesDeleted"] == 1
    assert stats["SMTPIgnored"] == 0


def test_metrics_off_is_a_404() -> None:
    settings = Settings(smtp_port=0, http_port=0, tls=False, metrics=False)
    with Sink(settings) as sink, pytest.raises(urllib.error.HTTPError) as error:
        get(sink, "/metrics")
    error.value.close()
    assert error.value.code == 404


def test_an_encrypted_session_is_counted_as_tls() -> None:
    settings = Settings(smtp_port=0, http_port=0, tls=True)
    with Sink(settings) as sink:
        host, port = sink.smtp_address
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        with smtplib.SMTP(host, port, timeout=10) as client:
            client.starttls(context=context)
            client.sendmail("a@example.test", ["b@example.test"], raw_message())
        with smtplib.SMTP(host, port, timeout=10) as client:
            client.noop()
        _eventually(lambda: samples(sink)[("mailsink_smtp_sessions_open", ())] == 0)
        found = samples(sink)
    assert found[("mailsink_smtp_sessions_total", ())] == 2
    assert found[("mailsink_smtp_tls_sessions_total", ())] == 1


def test_behind_ui_auth_metrics_need_the_login() -> None:
    import base64

    settings = Settings(smtp_port=0, http_port=0, tls=False, ui_auth=(("ann", "s3cret"),))
    with Sink(settings) as sink:
        with pytest.raises(urllib.error.HTTPError) as error:
            get(sink, "/metrics")
        error.value.close()
        assert error.value.code == 401
        login = "Basic " + base64.b64encode(b"ann:s3cret").decode()
        request = urllib.request.Request(
            f"{sink.web_url}/metrics", headers={"Authorization": login}
        )
        with urllib.request.urlopen(request, timeout=5) as response:
            assert b"mailsink_" in response.read()
