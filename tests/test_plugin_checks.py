"""The fixture asserts on the checks: message.auth.dkim, message.html_check(min_score)."""

from __future__ import annotations

import dkim
import pytest

from helpers import dkim_key

pytest_plugins = ["pytester"]

INLINE = ("-p", "no:playwright", "-p", "no:benchmark")


TESTS = """
import smtplib, dkim

PEM = {pem!r}
MESSAGE = (b"From: App <app@shop.example>\\r\\nTo: bob@example.test\\r\\nSubject: Welcome\\r\\n"
           b"Content-Type: text/html\\r\\n\\r\\n<p style='display:flex'>Hi</p>\\r\\n")

def send(ms, data):
    with smtplib.SMTP(ms.host, ms.port) as client:
        client.sendmail("bounce@shop.example", ["bob@example.test"], data)

def signed():
    return dkim.sign(MESSAGE, b"s1", b"shop.example", PEM.encode()) + MESSAGE

def test_signed(mailsink):
    send(mailsink, signed())
    message = mailsink.assert_sent(to="bob@example.test", where=lambda m: m.auth.dkim == "pass")
    assert message.auth.spf == "pass"
    assert message.auth.dmarc == "pass"
    assert message.html_check(min_score=20)["Total"]["Nodes"] == 1

def test_tampered(mailsink):
    send(mailsink, signed().replace(b"Hi", b"Ho"))
    mailsink.assert_sent(to="bob@example.test", where=lambda m: m.auth.dkim == "pass",
                         timeout=0.5)

def test_html_score(mailsink):
    send(mailsink, MESSAGE)
    mailsink.assert_sent().html_check(min_score=100)
"""


def test_auth_verdicts_and_html_score_in_a_real_pytest_run(pytester: pytest.Pytester) -> None:
    pem_bytes, public = dkim_key()
    pem = pem_bytes.decode()
    records = pytester.path / "records.zone"
    records.write_text(
        f's1._domainkey.shop.example TXT "v=DKIM1; k=rsa; p={public}"\n'
        'shop.example TXT "v=spf1 ip4:127.0.0.1 ip6:::1 -all"\n'
        '_dmarc.shop.example TXT "v=DMARC1; p=reject"\n'
    )
    pytester.makepyfile(TESTS.format(pem=pem))
    result = pytester.runpytest(*INLINE, f"--mailsink-dns-records={records}")
    result.assert_outcomes(passed=1, failed=2)
    result.stdout.fnmatch_lines(
        [
            "*where: expected <predicate <lambda>>, got False (<auth dkim=fail "
            "(shop.example/s1: body hash mismatch: the body was changed after signing)*",
        ]
    )
    result.stdout.fnmatch_lines(
        [
            "*HTML check of message *('Welcome'): *% supported, wanted at least 100%; "
            "worst features:*",
            "*css-display-flex (display:flex): used 1x, unsupported in *",
        ]
    )
    assert dkim  # the inner run imports it too
