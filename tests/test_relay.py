"""Release and auto-relay end to end: a second real mailsink is the upstream.

The upstream requires STARTTLS and AUTH, as a real submission server does;
what it receives is compared byte for byte with what the first sink stored.
"""

from __future__ import annotations

import logging
import re
import smtplib
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from mailsink.cli import settings_from_args, startup_lines
from mailsink.config import Settings
from mailsink.relay.settings import AutoRule, RelaySettings, parse_upstream
from mailsink.server import Sink
from mailsink.tls import CertificateFiles

MakeSink = Callable[..., Sink]
PASSWORD = "s3cret-Pa55"


def wait_until(condition: Callable[[], Any], timeout: float = 10.0) -> Any:
    """Return the condition's first truthy value, or fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := condition():
            return value
        time.sleep(0.02)
    raise AssertionError("timed out waiting")


def upstream_url(upstream: Sink, scheme: str = "smtp+starttls", password: str = PASSWORD) -> str:
    host, port = upstream.smtp_address
    if scheme == "smtps":
        assert upstream.listener is not None and upstream.listener.smtps_address is not None
        port = upstream.listener.smtps_address[1]
    return f"{scheme}://relay:{password}@{host}:{port}?verify=off"


def relay_settings(url: str, **overrides: Any) -> RelaySettings:
    options: dict[str, Any] = {"retry_base": 0.05, "retry_max": 0.2, "timeout": 5.0}
    options.update(overrides)
    return RelaySettings(parse_upstream(url), **options)


@pytest.fixture
def upstream(make_sink: MakeSink) -> Sink:
    """A real mail server to relay to: STARTTLS and AUTH required, SMTPS offered too."""
    return make_sink(
        require_tls=True,
        require_auth=True,
        auth_users=(("relay", PASSWORD),),
        smtps_port=0,
        hostname="upstream.test",
    )


def send(sink: Sink, raw: bytes, to: list[str], sender: str = "app@example.test") -> None:
    host, port = sink.smtp_address
    with smtplib.SMTP(host, port) as client:
        client.sendmail(sender, to, raw)


def raw_message(subject: str, to: str = "user@example.test") -> bytes:
    return (
        f"From: App <app@example.test>\r\nTo: {to}\r\nSubject: {subject}\r\n"
        f"Message-ID: <{subject.replace(' ', '-')}@example.test>\r\n\r\nBody of {subject}\r\n"
    ).encode()


def upstream_messages(upstream: Sink) -> list[tuple[bytes, Any]]:
    store = upstream.store
    found = [store.get(i) for i in reversed(store.ids())]
    return [(store.raw(m.id) or b"", m.envelope) for m in found if m is not None]


def newest_id(sink: Sink) -> str:
    return str(wait_until(lambda: sink.store.ids() and sink.store.ids()[0]))


def release(sink: Sink, message_id: str, to: list[str]) -> Any:
    return sink.app.test_client().post(f"/api/v1/message/{message_id}/release", json={"To": to})


def test_a_release_arrives_upstream_byte_for_byte_over_starttls_with_auth(
    make_sink: MakeSink, upstream: Sink
) -> None:
    sink = make_sink(relay=relay_settings(upstream_url(upstream)))
    raw = raw_message("Release me")
    send(sink, raw, ["user@example.test", "hidden@example.test"])
    message_id = newest_id(sink)

    response = release(sink, message_id, ["QA Inbox <qa@real.test>"])
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_data(as_text=True) == "ok"

    [(got, envelope)] = upstream_messages(upstream)
    trail, _, rest = got.partition(b"\r\n\t")
    assert trail.startswith(b"Received: from ")
    # One trace header prepended, then exactly the stored bytes.
    assert got.endswith(raw)
    assert got[: len(got) - len(raw)].count(b"\r\n") == 2
    assert rest.startswith(b"by mailsink (mailsink release) id " + message_id.encode())
    assert envelope.rcpt_tos == ("qa@real.test",)
    assert envelope.mail_from == "app@example.test"
    assert envelope.tls and envelope.auth_user == "relay"

    detail = sink.app.test_client().get(f"/api/v1/message/{message_id}?peek=1").get_json()
    [attempt] = detail["Relayed"]
    assert (attempt["To"], attempt["Result"]) == (["qa@real.test"], "sent")
    assert attempt["Reply"].startswith("250")


def test_smtps_upstream_and_a_configured_envelope_sender(
    make_sink: MakeSink, upstream: Sink
) -> None:
    url = upstream_url(upstream, "smtps")
    sink = make_sink(relay=relay_settings(url, sender="bounces@mycompany.test"))
    send(sink, raw_message("Over SMTPS"), ["user@example.test"])
    assert release(sink, newest_id(sink), ["qa@real.test"]).status_code == 200
    [(_raw, envelope)] = upstream_messages(upstream)
    assert envelope.mail_from == "bounces@mycompany.test"
    assert envelope.tls


def test_mailhog_release_goes_only_to_the_configured_relay(
    make_sink: MakeSink, upstream: Sink
) -> None:
    sink = make_sink(relay=relay_settings(upstream_url(upstream)))
    send(sink, raw_message("MailHog style"), ["user@example.test"])
    message_id = newest_id(sink)
    client = sink.app.test_client()
    path = f"/api/v1/messages/{message_id}/release"
    elsewhere = client.post(path, json={"Host": "evil.test", "Port": "25", "Email": "x@real.test"})
    assert elsewhere.status_code == 400
    assert "only to the configured relay" in elsewhere.get_json()["Error"]
    host, port = upstream.smtp_address
    ok = client.post(path, json={"Host": host, "Port": str(port), "Email": "mh@real.test"})
    assert ok.status_code == 200
    assert [env.rcpt_tos for _, env in upstream_messages(upstream)] == [("mh@real.test",)]


def test_release_is_refused_without_recipients_outside_the_allowlist_and_unconfigured(
    make_sink: MakeSink, upstream: Sink
) -> None:
    sink = make_sink(relay=relay_settings(upstream_url(upstream), allow=r"@mycompany\.test$"))
    send(sink, raw_message("Guarded"), ["user@example.test"])
    message_id = newest_id(sink)
    client = sink.app.test_client()
    nobody = release(sink, message_id, [])
    assert nobody.status_code == 400
    assert "nothing relays by accident" in nobody.get_json()["Error"]
    outside = release(sink, message_id, ["a@mycompany.test", "b@elsewhere.test"])
    assert outside.status_code == 400
    assert "allowlist" in outside.get_json()["Error"]
    assert "b@elsewhere.test" in outside.get_json()["Error"]
    form = client.post(f"/api/v1/message/{message_id}/release", data='{"To": ["a@mycompany.test"]}')
    assert form.status_code == 415  # not declared JSON: could be a cross-site form
    assert release(sink, "nosuchid", ["a@mycompany.test"]).status_code == 404
    assert upstream_messages(upstream) == []
    assert release(sink, message_id, ["a@mycompany.test"]).status_code == 200

    plain = make_sink()
    send(plain, raw_message("No relay"), ["user@example.test"])
    off = release(plain, newest_id(plain), ["a@mycompany.test"])
    assert off.status_code == 400
    assert "--relay" in off.get_json()["Error"]


def test_auto_relay_forwards_only_matching_mail_after_the_250(
    make_sink: MakeSink, upstream: Sink
) -> None:
    rules = (
        AutoRule("to:@mycompany.test"),
        AutoRule("header:X-Release=yes", ("qa@mycompany.test",)),
    )
    sink = make_sink(relay=relay_settings(upstream_url(upstream), auto=rules))
    send(sink, raw_message("Ours", "dev@mycompany.test"), ["dev@mycompany.test"])
    send(sink, raw_message("Theirs", "c@customer.test"), ["c@customer.test"])
    flagged = b"X-Release: yes\r\n" + raw_message("Flagged", "c@customer.test")
    send(sink, flagged, ["c@customer.test"])

    got = wait_until(lambda: len(upstream_messages(upstream)) == 2 and upstream_messages(upstream))
    by_rcpt = {env.rcpt_tos: raw for raw, env in got}
    assert set(by_rcpt) == {("dev@mycompany.test",), ("qa@mycompany.test",)}
    assert b"Subject: Ours" in by_rcpt[("dev@mycompany.test",)]
    assert by_rcpt[("qa@mycompany.test",)].endswith(flagged)
    time.sleep(0.3)
    assert len(upstream_messages(upstream)) == 2  # "Theirs" stays in the sink only


def test_an_upstream_answering_451_then_250_gets_the_message_once(
    make_sink: MakeSink, upstream: Sink
) -> None:
    upstream.faults.fail_next(1, code=451)
    auto = (AutoRule("to:@mycompany.test"),)
    sink = make_sink(relay=relay_settings(upstream_url(upstream), auto=auto))
    send(sink, raw_message("Retry me", "dev@mycompany.test"), ["dev@mycompany.test"])
    message_id = newest_id(sink)
    wait_until(lambda: upstream_messages(upstream))

    def attempts() -> list[Any]:
        return [a for job in sink.store.relays(message_id) for a in job.attempts]

    wait_until(lambda: len(attempts()) == 2)
    time.sleep(0.3)
    assert len(upstream_messages(upstream)) == 1
    assert [a.result for a in attempts()] == ["deferred", "sent"]
    assert attempts()[0].reply.startswith("451")
    detail = sink.app.test_client().get(f"/api/v1/message/{message_id}?peek=1").get_json()
    assert [a["Result"] for a in detail["Relayed"]] == ["deferred", "sent"]


def test_a_5xx_is_not_retried_and_the_release_says_why(make_sink: MakeSink, upstream: Sink) -> None:
    upstream.faults.reject_recipient(re.compile("^gone@"), code=550, message="no such user")
    sink = make_sink(relay=relay_settings(upstream_url(upstream)))
    send(sink, raw_message("Bounce"), ["user@example.test"])
    message_id = newest_id(sink)
    response = release(sink, message_id, ["gone@real.test"])
    assert response.status_code == 400
    assert response.get_json()["Error"] == "SMTP error: 550 5.0.0 no such user"
    time.sleep(0.3)
    [job] = sink.store.relays(message_id)
    assert job.state == "failed" and len(job.attempts) == 1


def test_a_wrong_password_fails_without_showing_it(make_sink: MakeSink, upstream: Sink) -> None:
    sink = make_sink(relay=relay_settings(upstream_url(upstream, password="wrong-Pa55")))
    send(sink, raw_message("Bad login"), ["user@example.test"])
    response = release(sink, newest_id(sink), ["qa@real.test"])
    assert response.status_code == 400
    assert response.get_json()["Error"].startswith("SMTP error: 535")
    assert "wrong-Pa55" not in response.get_data(as_text=True)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_an_upstream_that_is_down_loses_nothing_and_resumes_after_restart(
    tmp_path: Path, certificate: CertificateFiles, make_sink: MakeSink
) -> None:
    store = str(tmp_path / "mail.db")
    auto = (AutoRule("to:@mycompany.test"),)
    down = f"smtp://127.0.0.1:{free_port()}"  # nothing listens there

    def settings(url: str) -> Settings:
        return Settings(
            smtp_port=0,
            http_port=None,
            store=store,
            relay=relay_settings(url, auto=auto),
            tls_cert=str(certificate.cert),
            tls_key=str(certificate.key),
        )

    first = Sink(settings(down)).start()
    try:
        send(first, raw_message("Keep me", "dev@mycompany.test"), ["dev@mycompany.test"])
        message_id = newest_id(first)
        wait_until(lambda: any(j.attempts for j in first.store.relays(message_id)))
        [job] = first.store.relays(message_id)
        assert job.pending and job.attempts[0].result == "deferred"
        assert "cannot reach smtp://127.0.0.1" in job.attempts[0].reply
    finally:
        first.stop()

    upstream = make_sink(auth_users=(("relay", PASSWORD),), require_auth=True)
    url = upstream_url(upstream, "smtp+starttls")
    second = Sink(settings(url)).start()
    try:
        [(raw, envelope)] = wait_until(lambda: upstream_messages(upstream))
        assert b"Subject: Keep me" in raw and envelope.rcpt_tos == ("dev@mycompany.test",)
        wait_until(lambda: second.store.relays(message_id)[0].state == "sent")
        assert second.store.pending_relays() == []
    finally:
        second.stop()


def test_the_relay_password_never_appears_in_the_ui_api_or_logs(
    make_sink: MakeSink, upstream: Sink, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    url = upstream_url(upstream)
    settings = settings_from_args(
        ["--smtp", "127.0.0.1:0", "--http", "127.0.0.1:0", "--relay", url, "--relay-auto", "to:@x"],
        {},
    )
    assert PASSWORD not in repr(settings)
    sink = make_sink(relay=relay_settings(url, auto=(AutoRule("to:@mycompany.test"),)))
    send(sink, raw_message("Secret", "dev@mycompany.test"), ["dev@mycompany.test"])
    message_id = newest_id(sink)
    wait_until(lambda: upstream_messages(upstream))
    client = sink.app.test_client()
    shown = [
        client.get("/api/v1/webui").get_data(as_text=True),
        client.get(f"/api/v1/message/{message_id}").get_data(as_text=True),
        client.get(f"/message/{message_id}").get_data(as_text=True),
        client.get("/").get_data(as_text=True),
        "\n".join(startup_lines(sink)),
        caplog.text,
    ]
    assert "relay: smtp+starttls://relay@" in "\n".join(startup_lines(sink))
    assert client.get("/api/v1/webui").get_json()["MessageRelay"]["Enabled"] is True
    for text in shown:
        assert PASSWORD not in text
    assert "relay: message" in caplog.text  # the attempts were logged, without it


def test_relay_urls_parse_and_bad_ones_are_clear_errors() -> None:
    up = parse_upstream("smtp+starttls://me%40corp:p%3Ass@mail.example.com?verify=off")
    assert (up.host, up.port, up.security, up.user, up.password, up.verify) == (
        "mail.example.com", 587, "starttls", "me@corp", "p:ss", False,
    )  # fmt: skip
    assert parse_upstream("smtps://mail.example.com").port == 465
    assert parse_upstream("smtp://[::1]:2525").display() == "smtp://[::1]:2525"
    assert "p:ss" not in repr(up) and "p:ss" not in up.display()
    for bad, message in [
        ("http://x", "must start with"),
        ("smtp://", "no host"),
        ("smtp://x:99999", "bad port"),
        ("smtp://x?tls=1", "unknown relay URL option"),
    ]:
        with pytest.raises(ValueError, match=message):
            parse_upstream(bad)


def test_cli_flags_and_config_files_build_the_relay_settings(tmp_path: Path) -> None:
    toml = tmp_path / "relay.toml"
    toml.write_text(
        'url = "smtps://u:pw@mail.example.com"\nallow = "@corp\\\\.test$"\n'
        'sender = "b@corp.test"\nretry_base = 5\n\n'
        '[[auto]]\nquery = "to:@corp.test"\n\n[[auto]]\nquery = "tag:x"\nto = ["qa@corp.test"]\n'
    )
    relay = settings_from_args(["--relay-config", str(toml)], {}).relay
    assert relay is not None
    assert relay.upstream.security == "tls" and relay.retry_base == 5
    assert relay.allows("a@corp.test") and not relay.allows("a@other.test")
    assert relay.auto == (AutoRule("to:@corp.test"), AutoRule("tag:x", ("qa@corp.test",)))
    yaml_file = tmp_path / "relay.yaml"
    yaml_file.write_text(
        "relay:\n  host: mail.example.com\n  security: starttls\n  auto: 'to:@a'\n"
    )
    from_yaml = settings_from_args(["--relay-config", str(yaml_file)], {}).relay
    assert from_yaml is not None and from_yaml.upstream.port == 587
    assert from_yaml.auto == (AutoRule("to:@a"),)
    env = {"MAILSINK_RELAY": "smtp://mail.example.com", "MAILSINK_RELAY_AUTO": "to:@b"}
    from_env = settings_from_args(["--relay-auto-to", "qa@b.test"], env).relay
    assert from_env is not None and from_env.auto == (AutoRule("to:@b", ("qa@b.test",)),)
    assert settings_from_args([], {}).relay is None


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--relay-auto", "to:@a"], "need --relay URL"),
        (["--relay", "ftp://x"], "must start with"),
        (["--relay", "smtp://x", "--relay-allow", "("], "not a valid regex"),
        (["--relay", "smtp://x", "--relay-auto", "larger:abc"], "not a valid size"),
        (["--relay-config", "/nonexistent/relay.toml"], "cannot read"),
    ],
)
def test_bad_relay_options_are_usage_errors(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        settings_from_args(argv, {})
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "relay:" in err and message in err


def test_a_deferred_release_answers_202_and_is_retried_until_sent(
    make_sink: MakeSink, upstream: Sink
) -> None:
    upstream.faults.fail_next(1, code=452, message="mailbox full, later")
    sink = make_sink(relay=relay_settings(upstream_url(upstream)))
    send(sink, raw_message("Later"), ["user@example.test"])
    message_id = newest_id(sink)
    response = release(sink, message_id, ["qa@real.test"])
    assert response.status_code == 202
    assert response.get_data(as_text=True) == "deferred, will retry: 452 4.0.0 mailbox full, later"
    wait_until(lambda: sink.store.relays(message_id)[0].state == "sent")
    assert len(upstream_messages(upstream)) == 1
