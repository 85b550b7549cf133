"""A shared team host, checked with real clients: curl for login, HTTPS and webroot; logs.

Each test starts a sink on free ports with the options a team host uses and
talks to it with ``curl`` (installed by ``scripts/test``), as an operator or a
reverse proxy would.
"""

from __future__ import annotations

import http.client
import os
import re
import shutil
import signal
import smtplib
import ssl
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path

import pytest

from mailsink.credentials import Credentials, CredentialsError, parse_htpasswd
from mailsink.flags import settings_from_args
from mailsink.server import Sink
from mailsink.tls import CertificateFiles
from procs import start_mailsink

pytest_plugins = ["pytester"]

CURL = shutil.which("curl")
pytestmark = pytest.mark.skipif(CURL is None, reason="needs curl (scripts/test installs it)")

SCRIPT = Path(sys.executable).with_name("mailsink")
COMMAND = [str(SCRIPT)] if SCRIPT.exists() else [sys.executable, "-m", "mailsink"]


def curl(*args: str) -> tuple[int, dict[str, str], str]:
    """Run curl; return (status, headers lower-cased, body)."""
    assert CURL is not None
    result = subprocess.run(
        [CURL, "-s", "-S", "--max-time", "20", "-D", "-", *args],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    head, _, body = result.stdout.replace("\r\n", "\n").partition("\n\n")
    lines = head.splitlines()
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return status, headers, body


def send(sink: Sink, subject: str = "Hello") -> None:
    """Send one message over SMTP."""
    with smtplib.SMTP(*sink.smtp_address, timeout=10) as client:
        client.sendmail(
            "app@example.test",
            ["ann@example.test"],
            f"Subject: {subject}\r\nTo: ann@example.test\r\n\r\nhi\r\n".encode(),
        )


# ---- login -------------------------------------------------------------------------------


def test_basic_auth_guards_ui_api_and_events_but_not_the_health_checks(make_sink: object) -> None:
    sink: Sink = make_sink(http_port=0, ui_auth=(("ann", "s3cret"), ("bob", "pw:with:colons")))  # type: ignore[operator]
    url = str(sink.web_url)
    guarded = ("/", "/api/v1/messages", "/api/v1/events", "/ui/static/app.js", "/view/latest.txt")
    for path in guarded:
        status, headers, body = curl(url + path)
        assert status == 401, path
        assert headers["www-authenticate"] == 'Basic realm="mailsink", charset="UTF-8"'
        assert '"Error"' in body
        assert curl("-u", "ann:wrong", url + path)[0] == 401
        assert curl("-u", "nobody:s3cret", url + path)[0] == 401
    assert curl("-u", "ann:s3cret", url + "/api/v1/messages")[0] == 200
    assert curl("-u", "bob:pw:with:colons", url + "/")[0] == 200
    for path in ("/livez", "/readyz"):
        assert curl(url + path)[0] == 200
    # The event stream with credentials: it opens (and curl gives up at --max-time).
    assert CURL is not None
    stream = subprocess.run(
        [CURL, "-s", "-N", "--max-time", "1", "-u", "ann:s3cret", url + "/api/v1/events"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert stream.returncode == 28  # timed out while the stream was open
    assert "retry:" in stream.stdout or ":" in stream.stdout


def _htpasswd(path: Path, user: str, password: str) -> None:
    """Write an htpasswd bcrypt line with Apache's tool, or with bcrypt where it is missing."""
    tool = shutil.which("htpasswd")
    if tool:
        subprocess.run([tool, "-B", "-b", "-c", str(path), user, password], check=True)
    else:
        import bcrypt

        hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(5)).decode()
        path.write_text(f"{user}:{hashed}\n")


def test_an_htpasswd_bcrypt_file_logs_users_in(make_sink: object, tmp_path: Path) -> None:
    users = tmp_path / "users"
    _htpasswd(users, "carol", "correct horse")
    sink: Sink = make_sink(http_port=0, ui_auth_file=str(users))  # type: ignore[operator]
    url = str(sink.web_url)
    assert curl(url + "/api/v1/messages")[0] == 401
    assert curl("-u", "carol:wrong horse", url + "/api/v1/messages")[0] == 401
    assert curl("-u", "carol:correct horse", url + "/api/v1/messages")[0] == 200
    assert curl("-u", "carol:correct horse", url + "/")[0] == 200  # now from the cache


def test_an_unusable_htpasswd_file_stops_the_start_without_showing_its_content(
    tmp_path: Path,
) -> None:
    users = tmp_path / "users"
    users.write_text("dave:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=\n")
    with pytest.raises(CredentialsError, match="only bcrypt") as caught:
        Credentials.load((), str(users))
    assert "W6ph5" not in str(caught.value)
    assert parse_htpasswd("# comment\n\nann:$2y$05$abc\n") == {"ann": b"$2y$05$abc"}
    result = subprocess.run(
        [*COMMAND, "--smtp", "127.0.0.1:0", "--http", "127.0.0.1:0", "--ui-auth-file", str(users)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "only bcrypt hashes are accepted" in result.stderr and "W6ph5" not in result.stderr
    assert "Traceback" not in result.stderr


def test_credentials_never_reach_the_log(tmp_path: Path) -> None:
    running = start_mailsink(
        "--smtp", "127.0.0.1:0", "--http", "127.0.0.1:0", "-v",
        "--ui-auth", "ann:TOPSECRET-UI", "--auth", "app:TOPSECRET-SMTP",
    )  # fmt: skip
    try:
        url = str(running.web_url)
        curl("-u", "ann:TOPSECRET-UI", url + "/api/v1/messages")
        curl("-u", "ann:TOPSECRET-WRONG", url + "/api/v1/messages")
        with smtplib.SMTP(*running.smtp, timeout=10) as client:
            client.login("app", "TOPSECRET-SMTP")
            client.sendmail("a@example.test", ["b@example.test"], b"Subject: x\r\n\r\ny\r\n")
        with (
            smtplib.SMTP(*running.smtp, timeout=10) as client,
            pytest.raises(smtplib.SMTPAuthenticationError),
        ):
            client.login("app", "TOPSECRET-BAD")
    finally:
        running.process.send_signal(signal.SIGTERM)
        out, err = running.process.communicate(timeout=20)
    text = "\n".join(running.lines) + out + err
    assert "TOPSECRET" not in text
    assert "VE9QU0VDUkVU" not in text  # nor base64 of it
    assert " >> " in err  # -v did log the session


# ---- HTTPS -------------------------------------------------------------------------------


def test_https_with_the_generated_certificate_and_the_event_stream_stays_live(
    make_sink: object, tmp_path: Path
) -> None:
    sink: Sink = make_sink(  # type: ignore[operator]
        http_port=0, ui_tls=True, tls_cert=None, tls_key=None, tls_dir=str(tmp_path)
    )
    url = str(sink.web_url)
    assert url.startswith("https://")
    cert = str(tmp_path / "cert.pem")
    status, headers, _body = curl("--cacert", cert, url + "/api/v1/messages")
    assert status == 200
    assert "strict-transport-security" not in headers
    assert curl("--cacert", cert, url + "/")[0] == 200
    assert CURL is not None
    refused = subprocess.run([CURL, "-s", url + "/readyz"], capture_output=True, timeout=30)
    assert refused.returncode == 60  # curl: the certificate is not trusted
    plain = subprocess.run(
        [CURL, "-s", url.replace("https://", "http://") + "/readyz"],
        capture_output=True,
        timeout=30,
    )
    assert plain.returncode != 0  # no plain HTTP on the HTTPS port

    # Server-Sent Events through the TLS front: the event arrives as it happens.
    parts = urllib.parse.urlsplit(url)
    context = ssl.create_default_context(cafile=cert)
    assert parts.hostname is not None
    connection = http.client.HTTPSConnection(parts.hostname, parts.port, context=context)
    connection.request("GET", "/api/v1/events")
    response = connection.getresponse()
    assert response.status == 200
    assert response.getheader("Content-Type", "").startswith("text/event-stream")
    latencies = []
    for n in range(5):
        send(sink, f"over https {n}")
        sent = time.perf_counter()
        while True:
            line = response.readline().decode()
            if line.startswith("event: new"):
                latencies.append(time.perf_counter() - sent)
                break
    connection.close()
    print(f"SSE over HTTPS: event after the 250 in {1000 * max(latencies):.1f} ms at most")
    assert max(latencies) < 1.0


def test_https_with_a_given_certificate(make_sink: object, certificate: CertificateFiles) -> None:
    sink: Sink = make_sink(  # type: ignore[operator]
        http_port=0, ui_tls_cert=str(certificate.cert), ui_tls_key=str(certificate.key)
    )
    url = str(sink.web_url)
    assert url.startswith("https://")
    assert curl("--cacert", str(certificate.cert), url + "/readyz")[0] == 200


# ---- webroot and label ---------------------------------------------------------------------


def test_everything_is_served_under_the_webroot(make_sink: object) -> None:
    sink: Sink = make_sink(http_port=0, webroot="/mail/", label="Staging EU")  # type: ignore[operator]
    url = str(sink.web_url)
    assert url.endswith("/mail")
    root = url.removesuffix("/mail")
    status, _headers, page = curl(url + "/")
    assert status == 200
    assert "<title>Staging EU · mailsink</title>" in page
    assert 'data-base="/mail"' in page
    assert re.search(r'src="/mail/ui/assets/[0-9a-f]+/app\.js"', page)
    assert curl(url + "/ui/static/app.js")[0] == 200
    assert curl(url + "/api/v1/messages")[0] == 200
    send(sink)
    assert "Hello" in curl(url + "/api/v1/message/latest")[2]
    status, headers, _ = curl(url)
    assert status == 308 and headers["location"] == "/mail/"
    assert curl(root + "/")[0] == 404
    assert curl(root + "/api/v1/messages")[0] == 404
    assert curl(root + "/readyz")[0] == 200  # healthchecks need not know the prefix
    assert curl(url + "/readyz")[0] == 200


def test_webroot_login_and_https_together(make_sink: object, tmp_path: Path) -> None:
    sink: Sink = make_sink(  # type: ignore[operator]
        http_port=0,
        webroot="/mail",
        ui_auth=(("ann", "pw"),),
        ui_tls=True,
        tls_cert=None,
        tls_key=None,
        tls_dir=str(tmp_path),
    )
    cert = str(tmp_path / "cert.pem")
    url = str(sink.web_url)
    assert url.startswith("https://") and url.endswith("/mail")
    assert curl("--cacert", cert, url + "/api/v1/messages")[0] == 401
    assert curl("--cacert", cert, "-u", "ann:pw", url + "/api/v1/messages")[0] == 200
    assert curl("--cacert", cert, url + "/livez")[0] == 200


@pytest.mark.parametrize("bad", ["mail", "/mail/../x", "/ma il/", "/mail?x"])
def test_a_bad_webroot_is_a_usage_error(bad: str) -> None:
    with pytest.raises(SystemExit):
        settings_from_args(["--webroot", bad], {})


# ---- logs --------------------------------------------------------------------------------


LINE = re.compile(
    r"INFO (?P<id>[0-9A-Z]{20,}) app@example\.test -> ann@example\.test \d+ bytes 'Log me'$"
)


def _run_and_send(*flags: str) -> str:
    running = start_mailsink("--smtp", "127.0.0.1:0", "--http", "off", *flags)
    try:
        with smtplib.SMTP(*running.smtp, timeout=10) as client:
            client.sendmail(
                "app@example.test", ["ann@example.test"], b"Subject: Log me\r\n\r\nx\r\n"
            )
            client.mail("x@example.test")
            client.rcpt("y@example.test")
            code, _ = client.docmd("DATA", "now")  # 501: DATA takes no argument
            assert code == 501
    finally:
        running.process.send_signal(signal.SIGTERM)
        _out, err = running.process.communicate(timeout=20)
    return err


def test_one_log_line_per_message_and_per_refusal_and_quiet_silences_messages() -> None:
    err = _run_and_send()
    assert len([line for line in err.splitlines() if LINE.search(line)]) == 1, err
    assert re.search(r"INFO refused 127\.0\.0\.1:\d+: 501 Syntax: DATA", err), err
    assert "Traceback" not in err
    quiet = _run_and_send("-q")
    assert not any(LINE.search(line) for line in quiet.splitlines()), quiet
    assert "refused" in quiet


# ---- retention ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"), [("3d", 259200), ("12h", 43200), ("30m", 1800), ("90s", 90), ("0", 0)]
)
def test_max_age_takes_days_hours_minutes(text: str, seconds: float) -> None:
    assert settings_from_args(["--max-age", text], {}).max_age == seconds


def test_max_age_prunes_old_messages(make_sink: object) -> None:
    sink: Sink = make_sink(max_age=3600.0)  # type: ignore[operator]
    send(sink, "old")
    assert sink.retention is not None
    assert sink.retention.prune() == 0  # not old yet
    assert sink.retention.prune(now=time.time() + 7200) == 1
    assert sink.store.count() == 0


def test_the_command_keeps_a_bounded_number_of_messages_by_default() -> None:
    assert settings_from_args([], {}).max_messages == 1000
    assert settings_from_args(["--max-messages", "0"], {}).max_messages == 0


# ---- clients with credentials --------------------------------------------------------------


def test_dump_sends_the_credentials_of_its_url(make_sink: object, tmp_path: Path) -> None:
    sink: Sink = make_sink(http_port=0, ui_auth=(("ann", "p@ss word"),))  # type: ignore[operator]
    send(sink, "dump me")
    parts = urllib.parse.urlsplit(str(sink.web_url))
    with_login = f"http://ann:{urllib.parse.quote('p@ss word')}@{parts.netloc}"
    out = tmp_path / "out"
    env = {**os.environ}
    result = subprocess.run(
        [*COMMAND, "dump", "--url", with_login, str(out)],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    assert [p.read_bytes() for p in out.glob("*.eml")] == [
        b"Subject: dump me\r\nTo: ann@example.test\r\n\r\nhi\r\n"
    ]
    refused = subprocess.run(
        [*COMMAND, "dump", "--url", str(sink.web_url), str(tmp_path / "none")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert refused.returncode == 1 and "401" in refused.stderr


REMOTE_TEST = """
import smtplib

def test_remote_sink_behind_a_login(mailsink):
    me = mailsink.address("ann@example.test")
    with smtplib.SMTP(mailsink.host, mailsink.port) as client:
        data = f"To: {me}\\r\\nSubject: behind login\\r\\n\\r\\nx\\r\\n"
        client.sendmail("app@example.test", [me], data)
    assert mailsink.assert_sent(to=me).subject == "behind login"
"""


def test_the_pytest_plugin_reaches_a_sink_behind_a_login(
    make_sink: object, pytester: pytest.Pytester
) -> None:
    sink: Sink = make_sink(http_port=0, tls=False, ui_auth=(("ci", "t0ken"),))  # type: ignore[operator]
    netloc = urllib.parse.urlsplit(str(sink.web_url)).netloc
    pytester.makepyfile(REMOTE_TEST)
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", f"--mailsink-url=http://ci:t0ken@{netloc}"
    )  # fmt: skip
    result.assert_outcomes(passed=1)
    wrong = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", f"--mailsink-url=http://ci:wrong@{netloc}"
    )  # fmt: skip
    assert wrong.ret != 0
    assert "answered 401" in wrong.stdout.str()
    assert "Y2k6d3Jvbmc" not in wrong.stdout.str()  # the Authorization header is not shown
