"""The listener over real sockets: catch-all, TLS, AUTH, limits and the envelope."""

from __future__ import annotations

import smtplib
import socket
import sqlite3
import ssl
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from helpers import make_raw, raw_session
from mailsink.server import Sink


def client_context(sink: Sink) -> ssl.SSLContext:
    """Return a client TLS context that trusts the sink's certificate."""
    assert sink.certificate is not None
    return ssl.create_default_context(cafile=str(sink.certificate.cert))


def test_any_sender_and_recipient_domains_are_accepted(sink: Sink) -> None:
    with smtplib.SMTP(*sink.smtp_address) as client:
        refused = client.sendmail(
            "app@anything.invalid", ["x@a.example", "y@b.test", "z@[127.0.0.1]"], make_raw()
        )
    assert refused == {}
    assert sink.store.count() == 1


def test_null_sender_is_accepted(sink: Sink) -> None:
    with smtplib.SMTP(*sink.smtp_address) as client:
        client.sendmail("<>", ["bounce@x.test"], make_raw())
    message = sink.store.list().items[0]
    assert message.envelope.mail_from == ""


def test_reply_names_the_stored_id_and_message_is_stored_before_it(sink: Sink) -> None:
    with smtplib.SMTP(*sink.smtp_address) as client:
        client.ehlo("app.test")
        client.mail("a@x.test")
        client.rcpt("b@y.test")
        code, reply = client.data(make_raw(subject="Stored first"))
        assert code == 250
        message_id = reply.decode().rsplit(" ", 1)[-1]
        stored = sink.store.get(message_id)  # already there: no sleep, no retry
        assert stored is not None
        assert stored.summary.subject == "Stored first"
        assert stored.envelope.helo == "app.test"
        assert stored.envelope.peer.startswith("127.0.0.1:")


def test_bcc_recipients_come_from_the_envelope(sink: Sink) -> None:
    raw = make_raw(to="bob@x.test", extra_headers="Cc: carol@x.test\r\n")
    with smtplib.SMTP(*sink.smtp_address) as client:
        client.sendmail("a@x.test", ["bob@x.test", "carol@x.test", "secret@x.test"], raw)
    message = sink.store.list().items[0]
    assert [a.address for a in message.summary.bcc] == ["secret@x.test"]
    assert message.envelope.rcpt_tos == ("bob@x.test", "carol@x.test", "secret@x.test")


def test_bytes_are_kept_exactly_after_dot_unstuffing(sink: Sink) -> None:
    raw = b"Subject: dots\r\n\r\n.leading dot\r\n..two dots\r\nend\r\n"
    with smtplib.SMTP(*sink.smtp_address) as client:
        client.sendmail("a@x.test", ["b@x.test"], raw)
    message = sink.store.list().items[0]
    assert sink.store.raw(message.id) == raw


def test_ehlo_advertises_what_is_supported(sink: Sink) -> None:
    with smtplib.SMTP(*sink.smtp_address) as client:
        client.ehlo()
        for extension in ("size", "8bitmime", "smtputf8", "starttls", "pipelining", "auth"):
            assert client.has_extn(extension), extension
        assert "PLAIN" in client.esmtp_features["auth"]
        assert "LOGIN" in client.esmtp_features["auth"]


def test_starttls_and_auth_are_recorded(sink: Sink) -> None:
    with smtplib.SMTP(*sink.smtp_address) as client:
        client.starttls(context=client_context(sink))
        client.login("app-user", "any password")
        client.sendmail("a@x.test", ["b@x.test"], make_raw())
    envelope = sink.store.list().items[0].envelope
    assert envelope.tls is True
    assert envelope.auth_user == "app-user"


def test_auth_without_tls_is_accepted_by_default(sink: Sink) -> None:
    with smtplib.SMTP(*sink.smtp_address) as client:
        client.login("plain-user", "secret")
        client.sendmail("a@x.test", ["b@x.test"], make_raw())
    envelope = sink.store.list().items[0].envelope
    assert (envelope.tls, envelope.auth_user) == (False, "plain-user")


def test_auth_login_mechanism_works(sink: Sink) -> None:
    with smtplib.SMTP(*sink.smtp_address) as client:
        client.ehlo()
        client.user, client.password = "login-user", "pw"
        client.auth("LOGIN", client.auth_login)
        client.sendmail("a@x.test", ["b@x.test"], make_raw())
    assert sink.store.list().items[0].envelope.auth_user == "login-user"


def test_required_credentials_refuse_wrong_password(make_sink) -> None:  # type: ignore[no-untyped-def]
    sink = make_sink(auth_users=(("app", "right"),), require_auth=True)
    with smtplib.SMTP(*sink.smtp_address) as client:
        with pytest.raises(smtplib.SMTPAuthenticationError) as info:
            client.login("app", "wrong")
        assert info.value.smtp_code == 535
        with pytest.raises(smtplib.SMTPSenderRefused) as refused:
            client.sendmail("a@x.test", ["b@x.test"], make_raw())
        assert refused.value.smtp_code == 530
        client.login("app", "right")
        client.sendmail("a@x.test", ["b@x.test"], make_raw())
    assert sink.store.count() == 1


def test_implicit_tls_listener(make_sink) -> None:  # type: ignore[no-untyped-def]
    sink = make_sink(smtps_port=0)
    assert sink.listener.smtps_address is not None
    host, port = sink.listener.smtps_address
    with smtplib.SMTP_SSL(host, port, context=client_context(sink)) as client:
        client.sendmail("a@x.test", ["b@x.test"], make_raw())
    assert sink.store.list().items[0].envelope.tls is True


def test_require_tls_refuses_mail_before_starttls(make_sink) -> None:  # type: ignore[no-untyped-def]
    sink = make_sink(require_tls=True)
    with smtplib.SMTP(*sink.smtp_address) as client:
        client.ehlo()
        code, _ = client.mail("a@x.test")
        assert code == 530
        client.starttls(context=client_context(sink))
        client.sendmail("a@x.test", ["b@x.test"], make_raw())
    assert sink.store.count() == 1


def test_no_tls_means_no_starttls(make_sink) -> None:  # type: ignore[no-untyped-def]
    sink = make_sink(tls=False)
    with smtplib.SMTP(*sink.smtp_address) as client:
        client.ehlo()
        assert not client.has_extn("starttls")


def test_too_large_message_gets_552_and_is_not_stored(make_sink) -> None:  # type: ignore[no-untyped-def]
    sink = make_sink(max_size=2000)
    with smtplib.SMTP(*sink.smtp_address) as client:
        with pytest.raises(smtplib.SMTPException) as info:
            client.sendmail("a@x.test", ["b@x.test"], make_raw(body="x" * 5000))
        assert "552" in str(info.value)
        client.sendmail("a@x.test", ["b@x.test"], make_raw(body="small"))
    assert sink.store.count() == 1


def test_recipients_beyond_the_cap_get_452(make_sink) -> None:  # type: ignore[no-untyped-def]
    sink = make_sink(max_recipients=2)
    with smtplib.SMTP(*sink.smtp_address) as client:
        client.ehlo()
        client.mail("a@x.test")
        assert client.rcpt("1@x.test")[0] == 250
        assert client.rcpt("2@x.test")[0] == 250
        assert client.rcpt("3@x.test")[0] == 452
        assert client.data(make_raw())[0] == 250
    assert sink.store.list().items[0].envelope.rcpt_tos == ("1@x.test", "2@x.test")


def test_control_characters_in_addresses_are_refused(sink: Sink) -> None:
    replies = raw_session(
        sink.smtp_address,
        [
            b"EHLO x\r\n",
            b"MAIL FROM:<a\x00b@x.test>\r\n",
            b"MAIL FROM:<ok@x.test>\r\n",
            b"RCPT TO:<evil\rBcc: x@y@x.test>\r\n",
            b"RCPT TO:<del\x7fchar@x.test>\r\n",
            b"QUIT\r\n",
        ],
    )
    assert replies[2].startswith(b"501")
    assert replies[3].startswith(b"250")
    assert replies[4][:1] == b"5"
    assert replies[5].startswith(b"501")


def test_pipelined_commands_get_replies_in_order(sink: Sink) -> None:
    with socket.create_connection(sink.smtp_address, timeout=10) as sock:
        stream = sock.makefile("rb")
        stream.readline()
        sock.sendall(b"EHLO p\r\n")
        while stream.readline()[3:4] == b"-":
            pass
        sock.sendall(
            b"MAIL FROM:<a@x.test>\r\nRCPT TO:<b@x.test>\r\nRCPT TO:<c@x.test>\r\nDATA\r\n"
        )
        codes = [stream.readline()[:3] for _ in range(4)]
        assert codes == [b"250", b"250", b"250", b"354"]
        sock.sendall(b"Subject: piped\r\n\r\nbody\r\n.\r\nQUIT\r\n")
        assert stream.readline().startswith(b"250")
        assert stream.readline().startswith(b"221")
    assert sink.store.list().items[0].summary.subject == "piped"


def test_long_lines_are_accepted_and_flagged(sink: Sink) -> None:
    raw = b"Subject: long\r\n\r\n" + b"y" * 5000 + b"\r\n"
    with smtplib.SMTP(*sink.smtp_address) as client:
        client.sendmail("a@x.test", ["b@x.test"], raw)
    message = sink.store.list().items[0]
    assert message.summary.long_lines is True
    assert sink.store.raw(message.id) == raw


def test_smtputf8_addresses_are_accepted(sink: Sink) -> None:
    raw = "Subject: ünïcode\r\nFrom: jörg@exämple.test\r\n\r\nhallo\r\n".encode()
    with smtplib.SMTP(*sink.smtp_address) as client:
        client.sendmail("jörg@exämple.test", ["zoë@exämple.test"], raw, mail_options=["SMTPUTF8"])
    message = sink.store.list().items[0]
    assert message.envelope.mail_from == "jörg@exämple.test"
    assert message.summary.subject == "ünïcode"


def test_port_zero_binds_a_free_port_each_time(make_sink) -> None:  # type: ignore[no-untyped-def]
    a, b = make_sink(), make_sink()
    assert a.smtp_address[1] != b.smtp_address[1]
    assert a.smtp_address[1] > 0


def test_idle_sessions_are_closed_after_the_timeout(make_sink) -> None:  # type: ignore[no-untyped-def]
    sink = make_sink(idle_timeout=0.5)
    with socket.create_connection(sink.smtp_address, timeout=10) as sock:
        stream = sock.makefile("rb")
        assert stream.readline().startswith(b"220")
        sock.sendall(b"EHLO idle.test\r\n")
        while stream.readline()[3:4] == b"-":
            pass
        started = time.monotonic()
        rest = stream.read()  # returns when the server closes the connection
        assert time.monotonic() - started < 5
        assert rest in (b"", b"421 Timeout\r\n") or rest.startswith(b"421")


def test_a_session_that_keeps_sending_commands_is_not_timed_out(make_sink) -> None:  # type: ignore[no-untyped-def]
    """The one idle timer per session counts from the last command, not the first."""
    sink = make_sink(idle_timeout=0.6)
    with socket.create_connection(sink.smtp_address, timeout=10) as sock:
        stream = sock.makefile("rb")
        assert stream.readline().startswith(b"220")
        started = last = time.monotonic()
        while last - started < 1.5:  # well past the timeout, a command every 0.2 s
            time.sleep(0.2)
            sock.sendall(b"NOOP\r\n")
            assert stream.readline().startswith(b"250")
            last = time.monotonic()
        rest = stream.read()  # then idle: closed about 0.6 s after the last command
        assert 0.5 < time.monotonic() - last < 5
        assert rest in (b"", b"421 Timeout\r\n") or rest.startswith(b"421")


def test_a_generated_certificate_is_removed_on_stop() -> None:
    from mailsink.config import Settings

    sink = Sink(Settings(smtp_port=0, http_port=None)).start()
    assert sink.certificate is not None
    folder = sink.certificate.cert.parent
    assert sink.certificate.cert.exists()
    sink.stop()
    assert not folder.exists()


def _send(client: smtplib.SMTP, raw: bytes) -> tuple[int, str]:
    client.ehlo_or_helo_if_needed()
    client.mail("a@x.test")
    client.rcpt("b@y.test")
    code, reply = client.data(raw)
    return code, reply.decode()


@pytest.mark.parametrize("sync", ["normal", "full"])
def test_small_and_large_messages_are_stored_in_the_order_acknowledged(
    make_sink: Callable[..., Sink], tmp_path: Path, sync: str
) -> None:
    """Small messages are stored on the event loop, large ones (and all of them with
    --store-sync full) on the writer thread; IDs and list order must not tell."""
    sink = make_sink(store=str(tmp_path / "m.db"), store_sync=sync)
    large = "word " * 80_000  # 400 KB: beyond the inline limit
    sizes = ["small", "large", "small", "large", "small"]
    acknowledged = []
    with smtplib.SMTP(*sink.smtp_address) as client:
        for n, size in enumerate(sizes):
            raw = make_raw(subject=f"{size} {n}", body=large if size == "large" else "short")
            code, reply = _send(client, raw)
            assert code == 250
            acknowledged.append(reply.rsplit(" ", 1)[-1])
    assert acknowledged == sorted(acknowledged)
    assert sink.store.ids() == acknowledged[::-1]
    assert [m.summary.subject for m in reversed(sink.store.list().items)] == [
        f"{size} {n}" for n, size in enumerate(sizes)
    ]


def test_a_store_failure_gets_451_on_either_path_and_the_session_goes_on(
    make_sink: Callable[..., Sink], tmp_path: Path
) -> None:
    db = tmp_path / "m.db"
    sink = make_sink(store=str(db))
    with smtplib.SMTP(*sink.smtp_address) as client:
        assert _send(client, make_raw(subject="before"))[0] == 250
        with sqlite3.connect(db) as other:  # the table goes away under the running sink
            other.execute("DROP TABLE messages")
        small = _send(client, make_raw(subject="small"))
        large = _send(client, make_raw(subject="large", body="word " * 80_000))
        assert [small[0], large[0]] == [451, 451]
        assert "could not be stored" in small[1]
        assert client.noop()[0] == 250


@pytest.mark.parametrize("fast", [True, False], ids=["uvloop", "asyncio"])
def test_the_listener_runs_on_uvloop_unless_told_not_to(make_sink, fast: bool) -> None:  # type: ignore[no-untyped-def]
    """``--no-uvloop`` keeps asyncio's loop; with uvloop (the [fast] extra) mail flows the same."""
    uvloop = pytest.importorskip("uvloop")
    sink = make_sink(uvloop=fast)
    assert isinstance(sink.listener.loop, uvloop.Loop) is fast
    with smtplib.SMTP(*sink.smtp_address) as client:
        client.starttls()
        client.sendmail("a@x.test", ["b@y.test"], make_raw(subject="loop"))
    assert [m.summary.subject for m in sink.store.list().items] == ["loop"]
