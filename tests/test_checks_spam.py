"""The spam check against a real spamd: GTUBE is spam, a plain note is not, no spamd is an Error."""

from __future__ import annotations

from email.message import EmailMessage

from api_helpers import make_api

from mailsink.checks.spam import check_spam, parse_report
from mailsink.config import Settings
from mailsink.store import MemoryStore
from spamd import Spamd

GTUBE = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X"


def _message(body: str) -> bytes:
    msg = EmailMessage()
    msg["From"] = "Alice <alice@example.test>"
    msg["To"] = "bob@example.test"
    msg["Subject"] = "Lunch on Friday?"
    msg["Date"] = "Tue, 01 Dec 2026 10:00:00 +0000"
    msg["Message-ID"] = "<lunch@example.test>"
    msg.set_content(body)
    return msg.as_bytes()


def test_gtube_scores_as_spam_with_the_gtube_rule(spamd: Spamd) -> None:
    result = check_spam(_message(f"Hello\n{GTUBE}\n"), spamd.address)
    assert result["Error"] == ""
    assert result["IsSpam"] is True
    assert result["Score"] >= 1000
    gtube = [rule for rule in result["Rules"] if rule["Name"] == "GTUBE"]
    assert gtube and gtube[0]["Score"] == 1000
    assert "Generic Test for Unsolicited Bulk Email" in gtube[0]["Description"]


def test_a_plain_note_is_not_spam(spamd: Spamd) -> None:
    result = check_spam(_message("Shall we meet at noon by the fountain?\n"), spamd.address)
    assert result["Error"] == ""
    assert result["IsSpam"] is False
    assert result["Score"] < 5


def test_sa_check_over_the_api_answers_mailpits_shape(spamd: Spamd) -> None:
    api = make_api(MemoryStore(), Settings(spamassassin=spamd.address, dns=False))
    try:
        message_id = api.deliver(_message(GTUBE)).id
        body = api.get_json(f"/api/v1/message/{message_id}/sa-check")
        assert set(body) == {"IsSpam", "Error", "Score", "Rules"}
        assert body["IsSpam"] is True
        assert {"Score", "Name", "Description"} == set(body["Rules"][0])
        assert api.get_json("/api/v1/webui")["SpamAssassin"] is True
    finally:
        api.close()


def test_sa_check_is_a_403_without_spamassassin() -> None:
    api = make_api(MemoryStore(), Settings(dns=False))
    try:
        message_id = api.deliver(_message("hi")).id
        body = api.get_json(f"/api/v1/message/{message_id}/sa-check", status=403)
        assert "--spamassassin" in body["Error"]
    finally:
        api.close()


def test_an_unreachable_spamd_is_an_error_in_the_answer_not_a_5xx() -> None:
    import socket

    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    result = check_spam(_message("hi"), f"127.0.0.1:{port}", timeout=2)
    assert result["IsSpam"] is False
    assert "spamd at 127.0.0.1" in result["Error"]


def test_continuation_lines_of_a_rule_description_are_joined() -> None:
    answer = (
        "SPAMD/1.1 0 EX_OK\r\nContent-length: 10\r\nSpam: False ; 1.2 / 5.0\r\n\r\n"
        "Content analysis details:   (1.2 points, 5.0 required)\n\n"
        " pts rule name              description\n"
        "---- ---------------------- --------------------------------------------------\n"
        " 1.2 LONG_RULE              The first half of a long\n"
        "                            description\n"
    )
    result = parse_report(answer)
    assert result["Rules"] == [
        {"Score": 1.2, "Name": "LONG_RULE", "Description": "The first half of a long description"}
    ]
