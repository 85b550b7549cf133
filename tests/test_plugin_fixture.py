"""The ``mailsink`` fixture used directly: sending, waiting, matching, message helpers, faults."""

from __future__ import annotations

import re
import smtplib
import subprocess
import sys
import threading
from email.message import EmailMessage

import pytest

from mailsink.pytest_plugin import MailSink


def compose(
    to: str = "bob@example.test",
    subject: str = "Welcome",
    text: str = "Hello Bob",
    html: str | None = None,
    **headers: str,
) -> EmailMessage:
    """Return a message from app@example.test."""
    message = EmailMessage()
    message["From"] = "App <app@example.test>"
    message["To"] = to
    message["Subject"] = subject
    for name, value in headers.items():
        message[name.replace("_", "-")] = value
    message.set_content(text)
    if html is not None:
        message.add_alternative(html, subtype="html")
    return message


def send(sink: MailSink, message: EmailMessage, **kw: object) -> None:
    """Send one message to the sink over SMTP."""
    with sink.smtp() as client:
        client.send_message(message, **kw)  # type: ignore[arg-type]


def test_a_sent_message_can_be_asserted_right_after_sending(mailsink: MailSink) -> None:
    send(mailsink, compose())
    message = mailsink.assert_sent(to="bob@example.test", subject="Welcome")
    assert message.from_ == "app@example.test"
    assert message.text.strip() == "Hello Bob"
    assert message.sender == "app@example.test"
    assert message.recipients == ["bob@example.test"]


def test_each_test_starts_with_no_messages(mailsink: MailSink) -> None:
    assert mailsink.messages == []
    mailsink.assert_nothing_sent()


def test_addresses_match_case_insensitively(mailsink: MailSink) -> None:
    send(mailsink, compose(to="Bob <Bob@Example.TEST>"))
    mailsink.assert_sent(to="bob@example.test")
    mailsink.assert_sent(to="BOB@EXAMPLE.TEST")


def test_bcc_recipients_come_from_the_envelope(mailsink: MailSink) -> None:
    send(mailsink, compose(), to_addrs=["bob@example.test", "hidden@example.test"])
    message = mailsink.assert_sent(bcc="hidden@example.test")
    assert message.bcc == ["hidden@example.test"]
    mailsink.assert_not_sent(to="hidden@example.test")
    mailsink.assert_sent(recipient="hidden@example.test")


def test_from_matches_the_header_or_the_envelope_sender(mailsink: MailSink) -> None:
    send(mailsink, compose(), from_addr="bounces@example.test")
    mailsink.assert_sent(from_="app@example.test")
    mailsink.assert_sent(from_="bounces@example.test")
    mailsink.assert_sent(sender="bounces@example.test")
    mailsink.assert_not_sent(sender="app@example.test")


def test_regex_predicate_and_list_matchers(mailsink: MailSink) -> None:
    send(mailsink, compose(to="a@example.test, b@example.test", subject="Order #42 shipped"))
    mailsink.assert_sent(subject=re.compile(r"Order #\d+"))
    mailsink.assert_sent(subject=lambda s: s.endswith("shipped"))
    mailsink.assert_sent(to=["b@example.test", "a@example.test"])
    mailsink.assert_not_sent(to=["a@example.test", "c@example.test"])


def test_bodies_compare_exactly_after_trimming(mailsink: MailSink) -> None:
    send(mailsink, compose(text="Line one\nLine two\n", html="<p>Hi <b>Bob</b></p>"))
    mailsink.assert_sent(text="Line one\nLine two")
    mailsink.assert_not_sent(text="Line one")
    mailsink.assert_sent(text=re.compile("Line one"))
    mailsink.assert_sent(html=re.compile(r"<b>Bob</b>"))
    mailsink.assert_sent(body=re.compile("Line two"))


def test_header_and_attachment_keywords(mailsink: MailSink) -> None:
    message = compose(X_Priority="1")
    message.add_attachment(b"%PDF-1.4", maintype="application", subtype="pdf", filename="a.pdf")
    send(mailsink, message)
    send(mailsink, compose(subject="Plain"))
    got = mailsink.assert_sent(header={"x-priority": "1"}, has_attachment=True)
    assert got.attachments[0].filename == "a.pdf"
    assert got.attachments[0].content == b"%PDF-1.4"
    assert got.attachments[0].content_type == "application/pdf"
    mailsink.assert_sent(attachment=re.compile(r"\.pdf$"))
    mailsink.assert_sent(has_attachment=False, subject="Plain")
    mailsink.assert_sent(where=lambda m: m.headers["X-Priority"] == "1")


def test_count_returns_every_match_in_arrival_order(mailsink: MailSink) -> None:
    for n in range(3):
        send(mailsink, compose(subject=f"n{n}"))
    found = mailsink.assert_sent(3, subject=re.compile("^n"))
    assert [m.subject for m in found] == ["n0", "n1", "n2"]
    assert [m.subject for m in mailsink.messages] == ["n0", "n1", "n2"]


def test_assert_sent_fails_when_more_than_count_match(mailsink: MailSink) -> None:
    send(mailsink, compose())
    send(mailsink, compose())
    with pytest.raises(
        AssertionError, match=r"expected exactly 1 message\(s\) matching subject='Welcome', found 2"
    ):
        mailsink.assert_sent(subject="Welcome", timeout=0.1)


def test_wait_for_returns_mail_sent_later_from_a_thread(mailsink: MailSink) -> None:
    timer = threading.Timer(0.2, send, (mailsink, compose(subject="Later")))
    timer.start()
    message = mailsink.wait_for(subject="Later", timeout=10)
    timer.join()
    assert message.subject == "Later"


def test_wait_for_returns_mail_sent_from_a_subprocess(mailsink: MailSink) -> None:
    script = (
        "import smtplib, sys\n"
        "with smtplib.SMTP(sys.argv[1], int(sys.argv[2])) as s:\n"
        "    s.sendmail('worker@example.test', ['sub@example.test'],\n"
        "               b'Subject: from a process\\r\\n\\r\\nhi\\r\\n')\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", script, mailsink.host, str(mailsink.port)])
    try:
        message = mailsink.wait_for(recipient="sub@example.test", timeout=20)
    finally:
        proc.wait(timeout=20)
    assert message.subject == "from a process"


def test_wait_for_timeout_lists_what_arrived(mailsink: MailSink) -> None:
    send(mailsink, compose(subject="Hello"))
    with pytest.raises(AssertionError) as failure:
        mailsink.wait_for(subject="Goodbye", timeout=0.05)
    text = str(failure.value)
    assert "timed out after 0.05s waiting for 1 message(s) matching subject='Goodbye'" in text
    assert "app@example.test -> bob@example.test  subject 'Hello'" in text
    assert "subject: expected 'Goodbye', got 'Hello'" in text
    assert "web UI: http://" in text


def test_unknown_keyword_is_refused_at_once(mailsink: MailSink) -> None:
    with pytest.raises(TypeError, match="unknown mailsink match keyword 'too'"):
        mailsink.wait_for(too="x@example.test")


def test_clear_forgets_earlier_messages(mailsink: MailSink) -> None:
    send(mailsink, compose(subject="old"))
    mailsink.clear()
    send(mailsink, compose(subject="new"))
    assert [m.subject for m in mailsink.messages] == ["new"]


def test_assert_not_sent_watches_for_a_while(mailsink: MailSink) -> None:
    timer = threading.Timer(0.1, send, (mailsink, compose(subject="late")))
    timer.start()
    with pytest.raises(AssertionError, match="expected no message matching subject='late'"):
        mailsink.assert_not_sent(subject="late", timeout=10)
    timer.join()


def test_message_helpers_find_links_and_codes(mailsink: MailSink) -> None:
    html = (
        '<p>Reset: <a href="https://app.test/reset?t=abc&amp;u=1">here</a> '
        '<a href="https://app.test/help">help</a> code <b>482913</b></p>'
    )
    send(mailsink, compose(text="Your code: 482913. See https://app.test/help.", html=html))
    message = mailsink.assert_sent()
    assert message.links() == ["https://app.test/reset?t=abc&u=1", "https://app.test/help"]
    assert message.link(matching="reset") == "https://app.test/reset?t=abc&u=1"
    assert message.code() == "482913"
    assert message.extract(r"code: (\d+)") == "482913"
    with pytest.raises(
        AssertionError, match=r"expected exactly one link in message \w+ \('Welcome'\), found 2"
    ):
        message.link()
    with pytest.raises(AssertionError, match="expected one 4-digit code"):
        message.code(digits=4)
    assert message.email["Subject"] == "Welcome"
    assert message.raw.startswith(b"From: App <app@example.test>")


def test_settings_for_frameworks(mailsink: MailSink) -> None:
    django = mailsink.settings_for("django", tls=True)
    assert django["EMAIL_HOST"] == mailsink.host
    assert django["EMAIL_PORT"] == mailsink.port
    assert django["EMAIL_USE_TLS"] is True
    assert mailsink.settings_for("flask")["MAIL_SERVER"] == mailsink.host
    with smtplib.SMTP(**mailsink.settings_for("smtplib")) as client:
        client.sendmail("a@example.test", ["b@example.test"], b"Subject: x\r\n\r\nx\r\n")
    mailsink.assert_sent(subject="x")
    with pytest.raises(ValueError, match="unknown framework"):
        mailsink.settings_for("rails")


def test_starttls_with_the_trusted_certificate(mailsink: MailSink) -> None:
    with mailsink.smtp(tls=True) as client:
        client.sendmail("a@example.test", ["b@example.test"], b"Subject: tls\r\n\r\nx\r\n")
    assert mailsink.assert_sent(subject="tls").envelope.tls is True


def test_address_is_unique_to_the_test(mailsink: MailSink) -> None:
    assert mailsink.address("alice@corp.test") == f"alice+{mailsink.token}@corp.test"
    assert mailsink.address().endswith("@example.test")
