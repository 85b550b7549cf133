"""``mailsink sendmail`` called as real programs call sendmail: PHP's mail(), mailx, shell.

Each test runs the shim as a process (the installed ``mailsink`` script, as a
caller's ``sendmail_path`` would name it) against a sink on a free port, and
looks at what the sink stored.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from mailsink.server import Sink
from mailsink.store.base import StoredMessage

pytestmark = pytest.mark.slow

SCRIPT = Path(sys.executable).with_name("mailsink")
SHIM = [str(SCRIPT), "sendmail"] if SCRIPT.exists() else [sys.executable, "-m", "mailsink"]


def _sendmail(
    sink: Sink, *args: str, data: bytes = b"", env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[bytes]:
    host, port = sink.smtp_address
    return subprocess.run(
        [*SHIM, "-S", f"{host}:{port}", *args],
        input=data,
        capture_output=True,
        timeout=60,
        env={**os.environ, **(env or {})},
    )


def _only(sink: Sink) -> tuple[StoredMessage, bytes]:
    page = sink.store.list()
    assert page.total == 1, [m.summary.subject for m in page.items]
    message = page.items[0]
    raw = sink.store.raw(message.id)
    assert raw is not None
    return message, raw


def test_recipients_from_arguments_and_the_message_from_stdin(sink: Sink) -> None:
    data = b"From: app@example.test\nTo: ann@example.test\nSubject: Hi\n\nHello\n"
    result = _sendmail(sink, "-i", "-f", "bounce@example.test", "ann@example.test", data=data)
    assert result.returncode == 0, result.stderr
    message, raw = _only(sink)
    assert message.envelope.mail_from == "bounce@example.test"
    assert message.envelope.rcpt_tos == ("ann@example.test",)
    # Line ends become CRLF; a missing Date and Message-ID are added, the rest is kept.
    assert raw.startswith(b"From: app@example.test\r\nTo: ann@example.test\r\nSubject: Hi\r\n")
    assert b"\r\nDate: " in raw and b"\r\nMessage-ID: <" in raw
    assert raw.endswith(b"\r\n\r\nHello\r\n")


def test_dash_t_takes_recipients_from_headers_and_removes_bcc(sink: Sink) -> None:
    data = (
        b"From: app@example.test\n"
        b"To: Ann <ann@example.test>, bob@example.test\n"
        b"Cc: carol@example.test\n"
        b"Bcc: secret@example.test,\n"
        b"  other-secret@example.test\n"
        b"Subject: Bcc\n\nbody\n"
    )
    assert _sendmail(sink, "-t", "-oi", data=data).returncode == 0
    message, raw = _only(sink)
    assert set(message.envelope.rcpt_tos) == {
        "ann@example.test",
        "bob@example.test",
        "carol@example.test",
        "secret@example.test",
        "other-secret@example.test",
    }
    assert b"secret" not in raw.lower()
    assert b"\r\nbcc:" not in raw.lower()


def test_a_line_with_one_dot_ends_the_message_unless_dash_i(sink: Sink) -> None:
    data = b"To: ann@example.test\nSubject: dots\n\nfirst\n.\nafter the dot\n"
    assert _sendmail(sink, "-t", data=data).returncode == 0
    _message, raw = _only(sink)
    assert raw.endswith(b"first\r\n") and b"after the dot" not in raw
    sink.store.clear()
    assert _sendmail(sink, "-t", "-i", data=data).returncode == 0
    _message, raw = _only(sink)
    assert raw.endswith(b"first\r\n.\r\nafter the dot\r\n")  # dot-stuffed on the wire, kept


def test_full_name_and_sender_make_the_missing_from_header(sink: Sink) -> None:
    data = b"To: ann@example.test\nSubject: cron\n\noutput\n"
    result = _sendmail(sink, "-t", "-F", "Cron Daemon", "-froot@example.test", data=data)
    assert result.returncode == 0, result.stderr
    message, raw = _only(sink)
    assert b"From: Cron Daemon <root@example.test>\r\n" in raw
    assert message.envelope.mail_from == "root@example.test"


def test_harmless_options_are_accepted_and_ignored(sink: Sink) -> None:
    data = b"Subject: x\n\ny\n"
    result = _sendmail(
        sink, "-odi", "-oem", "-oi", "-B", "8BITMIME", "-N", "never", "--", "ann@example.test",
        data=data,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert _only(sink)[0].envelope.rcpt_tos == ("ann@example.test",)


def test_bad_options_exit_64_with_one_line(sink: Sink) -> None:
    result = _sendmail(sink, "-Z", "ann@example.test")
    assert result.returncode == 64
    assert result.stderr.decode().splitlines()[0] == "mailsink sendmail: unknown option -Z"
    assert _sendmail(sink, "-t", data=b"Subject: no one\n\nx\n").returncode == 64
    assert _sendmail(sink, "-f").returncode == 64
    assert sink.store.count() == 0


def test_an_unreachable_sink_exits_75(tmp_path: Path) -> None:
    result = subprocess.run(
        [*SHIM, "ann@example.test"],
        input=b"Subject: x\n\ny\n",
        capture_output=True,
        timeout=60,
        env={**os.environ, "MAILSINK_SENDMAIL_SMTP": "127.0.0.1:9"},
    )
    assert result.returncode == 75
    lines = result.stderr.decode().splitlines()
    assert len(lines) == 1 and "127.0.0.1:9" in lines[0] and "Traceback" not in lines[0]


def test_a_refused_message_exits_69(make_sink: object) -> None:
    small: Sink = make_sink(max_size=100)  # type: ignore[operator]
    result = _sendmail(small, "ann@example.test", data=b"Subject: big\n\n" + b"x" * 1000 + b"\n")
    assert result.returncode == 69
    assert "552" in result.stderr.decode()


def test_dash_s_with_credentials_logs_in_first(make_sink: object) -> None:
    guarded: Sink = make_sink(auth_users=(("app", "p@ss"),), require_auth=True)  # type: ignore[operator]
    host, port = guarded.smtp_address
    data = b"To: ann@example.test\nSubject: with auth\n\nx\n"
    result = subprocess.run(
        [*SHIM, "-t", "-S", f"app:p%40ss@{host}:{port}"],
        input=data,
        capture_output=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert _only(guarded)[0].envelope.auth_user == "app"
    refused = subprocess.run(
        [*SHIM, "-t", "-S", f"{host}:{port}"], input=data, capture_output=True, timeout=60
    )
    assert refused.returncode == 69 and b"530" in refused.stderr


def test_dash_bs_speaks_smtp_on_stdin_and_stdout(sink: Sink) -> None:
    session = (
        b"EHLO client.test\r\nMAIL FROM:<app@example.test>\r\nRCPT TO:<ann@example.test>\r\n"
        b"DATA\r\nSubject: bs\r\n\r\nover stdin\r\n.\r\nQUIT\r\n"
    )
    result = _sendmail(sink, "-bs", data=session)
    assert result.returncode == 0, result.stderr
    replies = result.stdout.decode()
    assert replies.startswith("220 ") and "250 2.0.0 Ok: queued as" in replies
    message, raw = _only(sink)
    assert raw == b"Subject: bs\r\n\r\nover stdin\r\n"
    assert message.envelope.helo == "client.test"


def test_the_environment_names_the_sink_and_a_symlink_named_sendmail_works(
    sink: Sink, tmp_path: Path
) -> None:
    if not SCRIPT.exists():
        pytest.skip("needs the installed mailsink script")
    link = tmp_path / "sendmail"
    link.symlink_to(SCRIPT)
    host, port = sink.smtp_address
    result = subprocess.run(
        [str(link), "-t"],
        input=b"To: ann@example.test\nSubject: via link\n\nx\n",
        capture_output=True,
        timeout=60,
        env={**os.environ, "MAILSINK_SENDMAIL_SMTP": f"{host}:{port}"},
    )
    assert result.returncode == 0, result.stderr
    assert _only(sink)[0].summary.subject == "via link"


PHP_MAIL = """
$ok = mail(
    "ann@example.test, bob@example.test",
    "Order #42",
    "Thanks for your order.\\n.\\nA line with a dot stays.",
    "From: shop@example.test\\r\\nBcc: audit@example.test\\r\\nX-Mailer: PHP"
);
exit($ok ? 0 : 3);
"""


@pytest.mark.skipif(shutil.which("php") is None, reason="needs php-cli (scripts/test installs it)")
def test_php_mail_delivers_through_sendmail_path(sink: Sink) -> None:
    host, port = sink.smtp_address
    # PHP's own default is "sendmail -t -i"; the same with the shim in its place.
    sendmail_path = f"{' '.join(SHIM)} -t -i -S {host}:{port}"
    result = subprocess.run(
        ["php", "-n", "-d", f"sendmail_path={sendmail_path}", "-r", PHP_MAIL],
        capture_output=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    message, raw = _only(sink)
    assert message.summary.subject == "Order #42"
    assert set(message.envelope.rcpt_tos) == {
        "ann@example.test",
        "bob@example.test",
        "audit@example.test",
    }
    assert b"audit@" not in raw and b"X-Mailer: PHP\r\n" in raw
    assert b"\r\n.\r\nA line with a dot stays." in raw


MAILX = shutil.which("mail.mailutils")


@pytest.mark.skipif(MAILX is None, reason="needs mailutils' mail (scripts/test installs it)")
def test_the_mail_command_delivers_through_the_shim(sink: Sink, tmp_path: Path) -> None:
    if not SCRIPT.exists():
        pytest.skip("needs the installed mailsink script")
    assert MAILX is not None
    # GNU mail runs `sendmail -oi -f USER@HOST -t` with the program its `sendmail`
    # variable names: a symlink named sendmail, told where the sink is.
    link = tmp_path / "sendmail"
    link.symlink_to(SCRIPT)
    host, port = sink.smtp_address
    result = subprocess.run(
        [
            MAILX,
            "-E",
            f"set sendmail=sendmail://{link}",
            "-s",
            "Disk almost full",
            "-a",
            "Cc: ops@example.test",
            "admin@example.test",
        ],
        input=b"/var is 95% full\n",
        capture_output=True,
        timeout=60,
        env={**os.environ, "MAILSINK_SENDMAIL_SMTP": f"{host}:{port}", "HOME": str(tmp_path)},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    message, raw = _only(sink)
    assert message.summary.subject == "Disk almost full"
    assert set(message.envelope.rcpt_tos) == {"admin@example.test", "ops@example.test"}
    assert raw.endswith(b"\r\n/var is 95% full\r\n")
