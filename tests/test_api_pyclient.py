"""PyPI's ``mailpit-api-client`` 1.0.0, unchanged, with its own pytest fixture against a real sink.

Its ``mailpit_api`` fixture (``mailpit.testing.pytest``) is session-scoped and,
at teardown, deletes what the test left with ``delete_messages``, which sends
a *form* body; Mailpit reads a body that is not JSON as "no IDs" and deletes
everything, and so must mailsink, or the client's own flow ends in an error.
``put_messages`` also sends a form, which Mailpit refuses with 400: so do we.
"""

from __future__ import annotations

import pytest
from api_helpers import raw_message, smtp_send

from mailsink.server import Sink

pytest_plugins = ["pytester", "conftest_api"]
pytestmark = pytest.mark.slow  # a pytest subprocess

INNER = """
import smtplib

import httpx
import pytest
from mailpit.testing.pytest import mailpit_api  # the client's own fixture

URL = "{url}"
SMTP = ("{host}", {port})


@pytest.mark.parametrize("mailpit_api", [URL], indirect=True)
def test_a_sent_message_is_seen_through_the_client(mailpit_api):
    with smtplib.SMTP(*SMTP, timeout=10) as client:
        client.sendmail(
            "app@example.test", ["user@example.test"],
            # The client's Headers model needs these five (from Mailpit too).
            b"From: App <app@example.test>\\r\\nTo: user@example.test\\r\\n"
            b"Delivered-To: user@example.test\\r\\nDate: Mon, 01 Jan 2024 10:00:00 +0000\\r\\n"
            b"Content-Type: text/plain; charset=utf-8\\r\\n"
            b"Subject: Welcome\\r\\nMessage-ID: <welcome@example.test>\\r\\n\\r\\nHello\\r\\n",
        )
    messages = mailpit_api.get_messages()
    assert messages.total == 2
    welcome = [m for m in messages.messages if m.subject == "Welcome"][0]
    assert welcome.message_id == "welcome@example.test"
    message = mailpit_api.get_message(welcome.id)
    assert message.text.strip() == "Hello"
    headers = mailpit_api.get_message_headers(welcome.id)
    assert headers.message_id == ["<welcome@example.test>"]
    with pytest.raises(httpx.HTTPStatusError):  # a form body: 400, as from Mailpit
        mailpit_api.put_messages([welcome.id], "Read", True)
"""


def test_the_clients_own_fixture_flow_passes_and_cleans_up(
    pytester: pytest.Pytester, live_sink: Sink
) -> None:
    smtp_send(live_sink, ["earlier@example.test"], raw_message(subject="Earlier"))
    host, port = live_sink.smtp_address
    pytester.makepyfile(INNER.format(url=live_sink.web_url, host=host, port=port))
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", "no:randomly")
    result.assert_outcomes(passed=1, errors=0)
    assert live_sink.store.count() == 0  # the fixture's teardown deleted everything
