"""Flask-Mail sends through smtplib to the mailsink fixture."""

import smtplib
import threading

import pytest
from app import create_app


@pytest.fixture
def client(mailsink):
    app = create_app(mailsink.settings_for("flask"))
    app.testing = True  # let exceptions reach the test
    return app.test_client()


def test_reset_mail_has_the_link(client, mailsink):
    assert client.post("/reset", data={"email": "ann@example.test"}).status_code == 200
    message = mailsink.assert_sent(to="ann@example.test")
    assert message.link() == "https://app.example.test/reset/abc123"


def test_a_temporary_failure_is_an_error_the_app_sees(client, mailsink):
    mailsink.fail_next(1, code=451)
    with pytest.raises(smtplib.SMTPDataError):
        client.post("/reset", data={"email": "ann@example.test"})
    mailsink.assert_nothing_sent()


def test_mail_sent_by_a_background_job(client, mailsink):
    job = threading.Thread(
        target=client.post, args=("/reset",), kwargs={"data": {"email": "bg@example.test"}}
    )
    job.start()
    mailsink.wait_for(to="bg@example.test")
    job.join()
