"""Fault rules: the fixture makes the SMTP side misbehave on purpose, for one test only."""

from __future__ import annotations

import re
import smtplib
import time

import pytest

from mailsink.faults import Faults
from mailsink.pytest_plugin import MailSink

pytest_plugins = ["pytester"]

RAW = b"Subject: retry me\r\n\r\nbody\r\n"


def send(sink: MailSink, to: str = "bob@example.test", sender: str = "app@example.test") -> None:
    """Send one message over a fresh connection."""
    with sink.smtp() as client:
        client.sendmail(sender, [to], RAW)


def test_a_rejected_recipient_gets_the_chosen_code(mailsink: MailSink) -> None:
    mailsink.reject_recipient("Gone@Example.test", code=550)
    with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
        send(mailsink, to="gone@example.test")
    code, text = refused.value.recipients["gone@example.test"]
    assert code == 550
    assert b"5.0.0" in text
    send(mailsink, to="other@example.test")
    mailsink.assert_sent(recipient="other@example.test")
    mailsink.assert_not_sent(recipient="gone@example.test")


def test_a_temporary_recipient_failure_with_a_regex(mailsink: MailSink) -> None:
    mailsink.reject_recipient(re.compile(r"@flaky\.test$"), code=451, message="try later")
    with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
        send(mailsink, to="x@flaky.test")
    assert refused.value.recipients["x@flaky.test"] == (451, b"4.0.0 try later")


def test_a_rejected_sender(mailsink: MailSink) -> None:
    mailsink.reject_sender(lambda address: address.startswith("spam"), code=553)
    with pytest.raises(smtplib.SMTPSenderRefused) as refused:
        send(mailsink, sender="spammer@example.test")
    assert refused.value.smtp_code == 553


def test_fail_next_fails_that_many_messages_then_accepts(mailsink: MailSink) -> None:
    mailsink.fail_next(2, code=451)
    for _ in range(2):
        with pytest.raises(smtplib.SMTPDataError) as failed:
            send(mailsink)
        assert failed.value.smtp_code == 451
    send(mailsink)
    assert len(mailsink.messages) == 1


def test_drop_connection_disconnects_the_client(mailsink: MailSink) -> None:
    mailsink.drop_connection(stage="data")
    with pytest.raises(smtplib.SMTPServerDisconnected):
        send(mailsink)
    mailsink.assert_nothing_sent()
    send(mailsink)
    mailsink.assert_sent()


def test_delay_slows_the_reply(mailsink: MailSink) -> None:
    mailsink.delay(0.3, stage="rcpt")
    started = time.monotonic()
    send(mailsink)
    assert time.monotonic() - started >= 0.3


def test_bad_fault_arguments_are_refused() -> None:
    faults = Faults()
    with pytest.raises(ValueError, match="4xx or 5xx"):
        faults.fail_next(code=250)
    with pytest.raises(ValueError, match="stage must be one of"):
        faults.delay(1, stage="helo")
    with pytest.raises(ValueError, match="at least 1"):
        faults.drop_connection(count=0)
    assert not faults.active


def test_fault_rules_are_undone_after_the_test(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import smtplib, pytest

        def send(ms):
            with ms.smtp() as c:
                c.sendmail("a@x.test", ["gone@x.test"], b"Subject: s\\r\\n\\r\\nb\\r\\n")

        def test_first(mailsink):
            mailsink.reject_recipient("gone@x.test")
            mailsink.delay(0.2)
            with pytest.raises(smtplib.SMTPRecipientsRefused):
                send(mailsink)

        def test_second(mailsink):
            send(mailsink)
            mailsink.assert_sent(recipient="gone@x.test")
        """
    )
    pytester.runpytest("-p", "no:playwright", "-p", "no:benchmark").assert_outcomes(passed=2)


def test_refuse_answers_the_greeting_with_the_chosen_code(mailsink: MailSink) -> None:
    mailsink.refuse(code=421, message="busy")
    with pytest.raises(smtplib.SMTPConnectError) as refused:
        mailsink.smtp()
    assert refused.value.args == (421, b"4.0.0 busy")
    send(mailsink)  # the next connection is greeted as usual
    mailsink.assert_sent()


def test_a_connect_delay_slows_the_greeting(mailsink: MailSink) -> None:
    mailsink.delay(0.3, stage="connect")
    started = time.monotonic()
    send(mailsink)
    assert time.monotonic() - started >= 0.3


def test_rules_have_ids_and_are_removed_one_by_one() -> None:
    faults = Faults()
    first = faults.reject_recipient("a@x.test")
    second = faults.fail_next(2)
    assert [r.id for r in faults.rules()] == [first, second]
    assert faults.remove(first) and not faults.remove(first)
    assert [r.kind for r in faults.rules()] == ["fail_next"]
    with pytest.raises(ValueError, match="cannot be scoped"):
        faults.refuse(scope="tok")
