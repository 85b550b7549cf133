"""SMTP misbehaviour over HTTP: Mailpit's chaos triggers and deterministic, scoped fault rules.

A real sink with its web server; smtplib and swaks see the configured codes.
"""

from __future__ import annotations

import json
import shutil
import smtplib
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

import pytest

from mailsink.server import Sink

MakeSink = Callable[..., Sink]
RAW = b"From: a@example.test\r\nSubject: chaos\r\n\r\nbody\r\n"


@pytest.fixture
def chaotic(make_sink: MakeSink) -> Sink:
    """A sink with --enable-chaos and its web server on a free port."""
    return make_sink(http_port=0, enable_chaos=True)


def call(sink: Sink, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    """Send a JSON request to the sink's web server; return (status, decoded body)."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(f"{sink.web_url}{path}", data=data, method=method)
    req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def send(sink: Sink, to: str = "bob@example.test", sender: str = "a@example.test") -> None:
    host, port = sink.smtp_address
    with smtplib.SMTP(host, port, timeout=10) as client:
        client.sendmail(sender, [to], RAW)


def test_chaos_is_off_unless_enabled(make_sink: MakeSink) -> None:
    sink = make_sink(http_port=0)
    assert call(sink, "GET", "/api/v1/chaos") == (400, {"Error": _NOT_ENABLED})
    assert call(sink, "GET", "/api/v1/faults")[0] == 400
    assert call(sink, "GET", "/api/v1/webui")[1]["ChaosEnabled"] is False


_NOT_ENABLED = "Chaos is not enabled (start mailsink with --enable-chaos)"


def test_mailpit_chaos_json_is_accepted_as_mailpit_documents_it(chaotic: Sink) -> None:
    status, triggers = call(chaotic, "GET", "/api/v1/chaos")
    assert status == 200
    assert triggers == {
        "Sender": {"ErrorCode": 451, "Probability": 0},
        "Recipient": {"ErrorCode": 451, "Probability": 0},
        "Authentication": {"ErrorCode": 535, "Probability": 0},
    }
    # Mailpit's docs: a trigger left out is reset to its default with 0 %.
    body = {"Recipient": {"ErrorCode": 550, "Probability": 100}}
    status, triggers = call(chaotic, "PUT", "/api/v1/chaos", body)
    assert status == 200
    assert triggers["Recipient"] == {"ErrorCode": 550, "Probability": 100}
    assert triggers["Sender"] == {"ErrorCode": 451, "Probability": 0}
    with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
        send(chaotic)
    assert refused.value.recipients["bob@example.test"] == (550, b"Chaos recipient error")
    assert call(chaotic, "PUT", "/api/v1/chaos", {})[1]["Recipient"]["Probability"] == 0
    send(chaotic)
    assert call(chaotic, "GET", "/api/v1/webui")[1]["ChaosEnabled"] is True


def test_chaos_sender_and_authentication_triggers(chaotic: Sink) -> None:
    body = {
        "Sender": {"ErrorCode": 421, "Probability": 100},
        "Authentication": {"ErrorCode": 454, "Probability": 100},
    }
    assert call(chaotic, "PUT", "/api/v1/chaos", body)[0] == 200
    host, port = chaotic.smtp_address
    with smtplib.SMTP(host, port, timeout=10) as client:
        with pytest.raises(smtplib.SMTPAuthenticationError) as auth:
            client.login("user", "pw")
        assert auth.value.smtp_code == 454
        with pytest.raises(smtplib.SMTPSenderRefused) as sender:
            client.sendmail("a@example.test", ["b@example.test"], RAW)
        assert sender.value.smtp_code == 421


@pytest.mark.parametrize(
    "body",
    [
        {"Sender": {"ErrorCode": 200, "Probability": 10}},
        {"Sender": {"ErrorCode": 451, "Probability": 101}},
        {"Sender": {"ErrorCode": "451"}},
        {"Nobody": {}},
        [1, 2],
    ],
)
def test_bad_chaos_json_is_a_400(chaotic: Sink, body: Any) -> None:
    status, answer = call(chaotic, "PUT", "/api/v1/chaos", body)
    assert status == 400 and answer["Error"]


@pytest.mark.skipif(shutil.which("swaks") is None, reason="swaks is installed by scripts/test")
def test_swaks_sees_the_configured_code(chaotic: Sink) -> None:
    rule = {"Kind": "reject_recipient", "Address": "gone@example.test", "Code": 553}
    assert call(chaotic, "POST", "/api/v1/faults", rule)[0] == 201
    host, port = chaotic.smtp_address
    result = subprocess.run(
        ["swaks", "--server", f"{host}:{port}", "--to", "gone@example.test", "--from",
         "a@example.test", "--timeout", "10"],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert "<** 553 5.0.0 Recipient rejected (mailsink fault rule)" in result.stdout


def test_scoped_rules_touch_only_mail_that_carries_their_token(chaotic: Sink) -> None:
    mine = {"Kind": "reject_recipient", "Regex": "^bob\\+", "Code": 550, "Scope": "tok1"}
    status, rule = call(chaotic, "POST", "/api/v1/faults", mine)
    assert status == 201
    assert (rule["Kind"], rule["Scope"], rule["Regex"]) == ("reject_recipient", "tok1", "^bob\\+")
    assert rule["Expires"] is not None  # every HTTP rule has a lifetime by default
    fail = {"Kind": "fail_next", "Count": 1, "Code": 452, "Scope": "tok2"}
    assert call(chaotic, "POST", "/api/v1/faults", fail)[0] == 201

    with pytest.raises(smtplib.SMTPRecipientsRefused):
        send(chaotic, "bob+tok1@example.test")
    send(chaotic, "bob+other@example.test")  # another test's mail: untouched
    send(chaotic, "bob+TOK2x@example.test")
    with pytest.raises(smtplib.SMTPDataError) as failed:
        send(chaotic, "carol+tok2@example.test")
    assert failed.value.smtp_code == 452
    send(chaotic, "carol+tok2@example.test")  # used up

    listed = call(chaotic, "GET", "/api/v1/faults?scope=tok1")[1]["Rules"]
    assert [r["ID"] for r in listed] == [rule["ID"]]
    assert call(chaotic, "DELETE", f"/api/v1/faults/{rule['ID']}") == (200, {"Removed": 1})
    assert call(chaotic, "DELETE", f"/api/v1/faults/{rule['ID']}")[0] == 404
    send(chaotic, "bob+tok1@example.test")
    assert call(chaotic, "GET", "/api/v1/faults")[1] == {"Rules": []}


def test_a_rule_expires_after_its_lifetime(chaotic: Sink) -> None:
    rule = {"Kind": "reject_sender", "Address": "a@example.test", "Lifetime": 0.3}
    assert call(chaotic, "POST", "/api/v1/faults", rule)[0] == 201
    with pytest.raises(smtplib.SMTPSenderRefused):
        send(chaotic)
    time.sleep(0.4)
    send(chaotic)
    assert call(chaotic, "GET", "/api/v1/faults")[1]["Rules"] == []


def test_the_connect_stage_refuses_delays_or_drops_the_greeting(chaotic: Sink) -> None:
    host, port = chaotic.smtp_address
    assert call(chaotic, "POST", "/api/v1/faults", {"Kind": "refuse", "Code": 421})[0] == 201
    with pytest.raises(smtplib.SMTPConnectError) as refused:
        smtplib.SMTP(host, port, timeout=10)
    assert refused.value.smtp_code == 421
    drop = {"Kind": "drop_connection", "Stage": "connect"}
    assert call(chaotic, "POST", "/api/v1/faults", drop)[0] == 201
    client = smtplib.SMTP(timeout=10)
    try:
        with pytest.raises(smtplib.SMTPServerDisconnected):
            client.connect(host, port)
    finally:
        client.close()  # smtplib leaves the socket open when the greeting never comes
    delay = {"Kind": "delay", "Stage": "connect", "Seconds": 0.3}
    assert call(chaotic, "POST", "/api/v1/faults", delay)[0] == 201
    started = time.monotonic()
    send(chaotic)
    assert time.monotonic() - started >= 0.3
    assert call(chaotic, "DELETE", "/api/v1/faults") == (200, {"Removed": 1})


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"Kind": "explode"}, "Kind must be one of"),
        ({"Kind": "reject_recipient"}, "either Address (exact) or Regex"),
        ({"Kind": "reject_recipient", "Regex": "("}, "not a valid regular expression"),
        ({"Kind": "fail_next", "Code": 250}, "4xx or 5xx"),
        ({"Kind": "fail_next", "Count": 0}, "at least 1"),
        ({"Kind": "delay", "Seconds": 0}, "greater than 0"),
        ({"Kind": "delay", "Seconds": 9999}, "between 0 and 600"),
        ({"Kind": "delay", "Stage": "helo", "Seconds": 1}, "Stage must be one of"),
        ({"Kind": "refuse", "Scope": "tok"}, "connect rule cannot be scoped"),
        ({"Kind": "fail_next", "Scope": "a b"}, "plus-address tag"),
        ({"Kind": "fail_next", "Lifetime": -1}, "Lifetime must be between"),
        ({"Kind": "fail_next", "Message": "x\u0000y"}, "control characters"),
        ({"Kind": "fail_next", "Count": "2"}, "Count must be a number"),
    ],
)
def test_bad_fault_rules_are_a_clear_400(chaotic: Sink, body: Any, message: str) -> None:
    status, answer = call(chaotic, "POST", "/api/v1/faults", body)
    assert status == 400
    assert message in answer["Error"]


def test_a_fault_rule_must_be_posted_as_json(chaotic: Sink) -> None:
    req = urllib.request.Request(
        f"{chaotic.web_url}/api/v1/faults", data=b'{"Kind": "fail_next"}', method="POST"
    )
    req.add_header("Content-Type", "text/plain")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(req, timeout=10)
    refused.value.close()
    assert refused.value.code == 415
    assert call(chaotic, "GET", "/api/v1/faults")[1]["Rules"] == []
