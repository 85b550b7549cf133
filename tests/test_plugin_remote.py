"""Remote mode: two xdist workers share one running sink over its HTTP API, isolated by token."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

pytest_plugins = ["pytester"]


@dataclass
class RunningSink:
    """A ``python -m mailsink`` process and the addresses its start-up line printed."""

    url: str
    smtp_host: str
    smtp_port: int

    def count(self) -> int:
        """Return how many messages the sink holds."""
        with urllib.request.urlopen(self.url + "/api/v1/messages?limit=1") as response:
            return int(json.load(response)["total"])


@pytest.fixture(scope="module")
def running_sink() -> Iterator[RunningSink]:
    """Start a real sink in a subprocess on free ports, as a CI service would run."""
    command = [sys.executable, "-m", "mailsink", "--smtp", "127.0.0.1:0", "--http", "127.0.0.1:0"]
    proc = subprocess.Popen(
        [*command, "--enable-chaos"],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    smtp = url = None
    for line in proc.stdout:
        if found := re.search(r"SMTP on ([\d.]+):(\d+)", line):
            smtp = found.group(1), int(found.group(2))
        if found := re.search(r"web UI and API at (http://\S+?)/?$", line):
            url = found.group(1)
        if smtp and url:
            break
    assert smtp and url, "the sink did not print its addresses"
    try:
        yield RunningSink(url, *smtp)
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        proc.stdout.close()


TESTS = """
import re, smtplib, threading, pytest

def send(ms, to, subject):
    data = f"From: app@example.test\\r\\nTo: {to}\\r\\nSubject: {subject}\\r\\n\\r\\nhi\\r\\n"
    with smtplib.SMTP(ms.host, ms.port) as client:
        client.sendmail("app@example.test", [to], data.encode())

@pytest.mark.parametrize("n", range(12))
def test_isolated(mailsink, n):
    me = mailsink.address("user@example.test")
    # Mail without this test's token arrives meanwhile: other tests must never see it.
    send(mailsink, "stranger@example.test", f"foreign {n}")
    send(mailsink, me, f"mine {n}")
    message = mailsink.assert_sent(to=me)
    assert message.subject == f"mine {n}"
    assert [m.subject for m in mailsink.messages] == [f"mine {n}"]
    assert message.envelope.rcpt_tos == (me,)

def test_wait_for_mail_from_a_thread(mailsink):
    me = mailsink.address("late")
    threading.Timer(0.3, send, (mailsink, me, "late one")).start()
    assert mailsink.wait_for(subject="late one", timeout=10).to == [me]

def test_clear_keeps_the_mail_on_the_sink(mailsink):
    send(mailsink, mailsink.address(), "before clear")
    mailsink.clear()
    mailsink.assert_nothing_sent()

@pytest.mark.parametrize("n", range(4))
def test_fault_rules_are_this_tests_own(mailsink, n):
    me = mailsink.address("user@example.test")
    mailsink.fail_next(1, code=451)
    mailsink.reject_recipient(re.compile(r"^gone\\+"), code=550)
    with pytest.raises(smtplib.SMTPDataError) as failed:
        send(mailsink, me, f"failed {n}")
    assert failed.value.smtp_code == 451
    with pytest.raises(smtplib.SMTPRecipientsRefused):
        send(mailsink, mailsink.address("gone@example.test"), "refused")
    send(mailsink, "gone+elsewhere@example.test", f"not mine {n}")  # not this test's token
    send(mailsink, me, f"mine {n}")
    assert [m.subject for m in mailsink.messages] == [f"mine {n}"]

def test_remote_rules_take_addresses_or_regexes_only(mailsink):
    with pytest.raises(TypeError, match="predicate cannot be sent"):
        mailsink.reject_recipient(lambda address: True)
"""


def test_two_workers_share_one_sink_without_seeing_each_others_mail(
    pytester: pytest.Pytester, running_sink: RunningSink
) -> None:
    before = running_sink.count()
    pytester.makepyfile(TESTS)
    result = pytester.runpytest_subprocess(
        "-n", "2", "-p", "no:cacheprovider", f"--mailsink-url={running_sink.url}"
    )
    result.assert_outcomes(passed=19)
    # 12 x 2 + 1 + 1 + 4 x 2 messages, and nothing was deleted (clear() only hides).
    assert running_sink.count() - before == 34
    # Every test removed its fault rules when it ended.
    with urllib.request.urlopen(running_sink.url + "/api/v1/faults") as response:
        assert json.load(response) == {"Rules": []}


def test_remote_failure_explains_the_token_and_names_foreign_mail(
    pytester: pytest.Pytester, running_sink: RunningSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MAILSINK_PYTEST_URL", running_sink.url)
    monkeypatch.setenv("MAILSINK_PYTEST_SMTP", f"{running_sink.smtp_host}:{running_sink.smtp_port}")
    pytester.makepyfile(
        """
import smtplib

def test_forgot_the_address(mailsink):
    with smtplib.SMTP(mailsink.host, mailsink.port) as client:
        client.sendmail("a@x.test", ["plain@x.test"], b"Subject: untagged\\r\\n\\r\\nx")
    mailsink.assert_sent(timeout=0.3)
"""
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "E * this test captured no mail at all",
            "E * remote mode: a test sees only mail sent to its own addresses, made with "
            "mailsink.address(...) (tag ms*); 1 other message(s) arrived meanwhile, "
            "to: plain@x.test",
            f"E * web UI: {running_sink.url}/",
        ]
    )


def test_an_unreachable_sink_is_a_clear_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_x(mailsink):\n    pass\n")
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--mailsink-url=http://127.0.0.1:9"
    )
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*RemoteError: cannot reach the sink at http://127.0.0.1:9*"])
