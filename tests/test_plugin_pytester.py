"""The plugin inside real pytest runs: output, isolation, xdist, options, TLS and AUTH."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]

# pytest-playwright keeps global state that breaks nested in-process runs, and
# pytest-benchmark warns under xdist (an error with filterwarnings = error).
INLINE = ("-p", "no:playwright", "-p", "no:benchmark")

SEND = """
import smtplib, re

def send(ms, to="bob@example.test", subject="Hello", body="Hi"):
    data = f"From: app@example.test\\r\\nTo: {to}\\r\\nSubject: {subject}\\r\\n\\r\\n{body}\\r\\n"
    with smtplib.SMTP(ms.host, ms.port) as client:
        client.sendmail("app@example.test", [to], data.encode())
"""


def test_a_passing_test_reports_passed(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        SEND
        + """
def test_send(mailsink):
    send(mailsink)
    assert mailsink.assert_sent(to="bob@example.test").subject == "Hello"
"""
    )
    pytester.runpytest(*INLINE).assert_outcomes(passed=1)


def test_a_failing_assertion_explains_what_arrived(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        SEND
        + """
def test_send(mailsink):
    send(mailsink, to="carol@example.test", subject="Invoice 7")
    send(mailsink, to="bob@example.test", subject="Welcome")
    mailsink.assert_sent(to="bob@example.test", subject="Invoice 7", timeout=0.1)
"""
    )
    result = pytester.runpytest(*INLINE)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*mailsink.assert_sent(to=*",
            "E * AssertionError: expected 1 message(s) matching to='bob@example.test', "
            "subject='Invoice 7' (waited 0.1s), found 0",
            "E * this test captured 2 message(s):",
            "E *  1. *  app@example.test -> carol@example.test  subject 'Invoice 7'  *",
            "E *  2. *  app@example.test -> bob@example.test  subject 'Welcome'  *",
            "E * closest candidates:",
            "E *  1. 'Invoice 7':",
            "E *       to: expected 'bob@example.test', got ?'carol@example.test'?",
            "E *  2. 'Welcome':",
            "E *       subject: expected 'Invoice 7', got 'Welcome'",
            "E * web UI: http://127.0.0.1:*/",
        ]
    )
    # The traceback ends in the test, not inside the plugin.
    assert "pytest_plugin/fixture.py" not in result.stdout.str()


def test_a_plain_failure_gets_a_captured_mail_section(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        SEND
        + """
def test_send(mailsink):
    send(mailsink, subject="Receipt")
    assert mailsink.messages[0].subject == "Invoice"
"""
    )
    result = pytester.runpytest(*INLINE)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["*Captured mail (mailsink)*", "  1. *app@example.test -> bob@example.test*'Receipt'*"]
    )


def test_tests_do_not_see_each_others_mail(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        SEND
        + """
import pytest

@pytest.mark.parametrize("n", range(20))
def test_isolated(mailsink, n):
    assert mailsink.messages == []
    send(mailsink, subject=f"test {n}")
    assert [m.subject for m in mailsink.messages] == [f"test {n}"]
"""
    )
    pytester.runpytest(*INLINE).assert_outcomes(passed=20)


def test_two_xdist_workers_each_get_their_own_sink(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        SEND
        + """
import pytest

@pytest.mark.parametrize("n", range(40))
def test_isolated(mailsink, n):
    send(mailsink, subject=f"test {n}")
    message = mailsink.assert_sent()
    assert message.subject == f"test {n}"
    assert len(mailsink.messages) == 1
"""
    )
    result = pytester.runpytest_subprocess(
        "-n", "2", "-p", "no:cacheprovider", "--mailsink-store=mail.db"
    )
    result.assert_outcomes(passed=40)
    # A SQLite store is one file per worker, so workers never prune each other's mail.
    assert (pytester.path / "mail-gw0.db").exists()
    assert (pytester.path / "mail-gw1.db").exists()


def test_mail_from_a_thread_and_a_subprocess_is_waited_for(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        SEND
        + """
import subprocess, sys, threading

def test_thread(mailsink):
    worker = threading.Thread(target=send, args=(mailsink,), kwargs={"subject": "threaded"})
    worker.start()
    assert mailsink.wait_for(subject="threaded").subject == "threaded"
    worker.join()

def test_subprocess(mailsink):
    code = (
        "import smtplib, sys\\n"
        "with smtplib.SMTP(sys.argv[1], int(sys.argv[2])) as s:\\n"
        "    s.sendmail('p@example.test', ['q@example.test'],\\n"
        "               b'Subject: child\\\\r\\\\n\\\\r\\\\nx')\\n"
    )
    child = subprocess.Popen([sys.executable, "-c", code, mailsink.host, str(mailsink.port)])
    assert mailsink.wait_for(subject="child").sender == "p@example.test"
    assert child.wait(timeout=30) == 0
"""
    )
    pytester.runpytest(*INLINE).assert_outcomes(passed=2)


def test_tls_require_refuses_plain_mail_and_the_ca_is_trusted(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
import smtplib, ssl, pytest

def test_tls(mailsink):
    assert mailsink.ca_path is not None and mailsink.ca_path.exists()
    with smtplib.SMTP(mailsink.host, mailsink.port) as plain:
        with pytest.raises(smtplib.SMTPSenderRefused) as refused:
            plain.sendmail("a@x.test", ["b@x.test"], b"Subject: plain\\r\\n\\r\\nx")
        assert refused.value.smtp_code == 530
    context = ssl.create_default_context(cafile=str(mailsink.ca_path))
    with smtplib.SMTP(mailsink.host, mailsink.port) as client:
        client.starttls(context=context)
        client.sendmail("a@x.test", ["b@x.test"], b"Subject: secret\\r\\n\\r\\nx")
    assert mailsink.assert_sent(subject="secret").envelope.tls
"""
    )
    pytester.runpytest("--mailsink-tls=require", *INLINE).assert_outcomes(passed=1)


def test_tls_off_offers_no_starttls(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nmailsink_tls = off\n")
    pytester.makepyfile(
        """
import smtplib

def test_plain(mailsink):
    assert mailsink.ca_path is None
    with smtplib.SMTP(mailsink.host, mailsink.port) as client:
        client.ehlo()
        assert not client.has_extn("starttls")
"""
    )
    pytester.runpytest(*INLINE).assert_outcomes(passed=1)


def test_auth_requires_the_given_credentials(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MAILSINK_PYTEST_AUTH", "alice:s3cret")
    monkeypatch.setenv("MAILSINK_PYTEST_REQUIRE_AUTH", "on")
    pytester.makepyfile(
        """
import smtplib, pytest

def test_auth(mailsink):
    assert mailsink.credentials == ("alice", "s3cret")
    django = mailsink.settings_for("django")
    assert (django["EMAIL_HOST_USER"], django["EMAIL_HOST_PASSWORD"]) == ("alice", "s3cret")
    with smtplib.SMTP(mailsink.host, mailsink.port) as client:
        with pytest.raises(smtplib.SMTPSenderRefused):
            client.sendmail("a@x.test", ["b@x.test"], b"Subject: anon\\r\\n\\r\\nx")
    with smtplib.SMTP(mailsink.host, mailsink.port) as client:
        with pytest.raises(smtplib.SMTPAuthenticationError):
            client.login("alice", "wrong")
    with smtplib.SMTP(mailsink.host, mailsink.port) as client:
        client.login("alice", "s3cret")
        client.sendmail("a@x.test", ["b@x.test"], b"Subject: authed\\r\\n\\r\\nx")
    assert mailsink.assert_sent(subject="authed").envelope.auth_user == "alice"
"""
    )
    pytester.runpytest(*INLINE).assert_outcomes(passed=1)


def test_auth_accepts_any_credentials_by_default(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
import smtplib

def test_any(mailsink):
    with smtplib.SMTP(mailsink.host, mailsink.port) as client:
        client.login("whoever", "whatever")
        client.sendmail("a@x.test", ["b@x.test"], b"Subject: any\\r\\n\\r\\nx")
    assert mailsink.assert_sent().envelope.auth_user == "whoever"
"""
    )
    pytester.runpytest(*INLINE).assert_outcomes(passed=1)


def test_sqlite_store_and_default_timeout_from_ini(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nmailsink_store = mail.db\nmailsink_timeout = 0.25\n")
    pytester.makepyfile(
        SEND
        + """
import os, pytest

def test_store(mailsink):
    send(mailsink)
    mailsink.assert_sent()
    assert os.path.exists("mail.db")
    assert mailsink.timeout == 0.25
    with pytest.raises(AssertionError, match="timed out after 0.25s"):
        mailsink.wait_for(subject="never")
"""
    )
    pytester.runpytest(*INLINE).assert_outcomes(passed=1)


def test_a_bad_option_stops_the_run_with_its_name(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_x(): pass")
    result = pytester.runpytest("--mailsink-tls=maybe", *INLINE)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*mailsink_tls: expected on, off or require, got 'maybe'*"])


def test_a_session_without_the_fixture_starts_no_sink(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
import sys

def test_x():
    assert "mailsink.server" not in sys.modules
"""
    )
    pytester.runpytest_subprocess("-p", "no:cacheprovider").assert_outcomes(passed=1)


def test_bind_address_option(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        SEND
        + """
def test_bound(mailsink):
    assert mailsink.host == "127.0.0.2"
    send(mailsink)
    assert mailsink.assert_sent().envelope.peer.startswith("127.0.0.")
"""
    )
    pytester.runpytest("--mailsink-bind=127.0.0.2", *INLINE).assert_outcomes(passed=1)
