"""Django's SMTP backend with STARTTLS, trusting the fixture's certificate, sends to mailsink."""

import re

import pytest


@pytest.fixture
def mail_settings(settings, mailsink, monkeypatch):
    """Point Django's real SMTP backend at the sink, with STARTTLS on."""
    for name, value in mailsink.settings_for("django", tls=True).items():
        setattr(settings, name, value)
    # Django verifies the server certificate with ssl.create_default_context(),
    # which reads SSL_CERT_FILE: trust the sink's generated certificate.
    monkeypatch.setenv("SSL_CERT_FILE", str(mailsink.ca_path))
    return settings


def test_signup_emails_a_link_and_a_code(client, mail_settings, mailsink):
    response = client.post("/signup", {"email": "new.user@example.test"})
    assert response.status_code == 200

    message = mailsink.assert_sent(to="new.user@example.test", subject="Confirm your account")
    assert message.envelope.tls, "the backend used STARTTLS"
    assert message.from_ == "noreply@example.test"
    assert message.bcc == ["audit@example.test"]
    assert re.fullmatch(r"\d{6}", message.code())
    assert message.link(matching="/confirm/").startswith("http://testserver/confirm/")


def test_nothing_is_sent_without_a_request(mail_settings, mailsink):
    mailsink.assert_nothing_sent()
