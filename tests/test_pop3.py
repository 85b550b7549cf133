"""The POP3 listener with Python's poplib: STLS, listing, retrieval, deletes, views."""

from __future__ import annotations

import base64
import poplib
from pathlib import Path
from typing import Any

import pytest

from helpers import make_raw
from mailsink.server import Sink
from reader_helpers import RawSession, client_context, reader_sink, send


def pop3(sink: Sink, user: str = "anyone", password: str = "secret") -> poplib.POP3:
    client = poplib.POP3(*sink.reader_address("pop3"), timeout=10)
    client.stls(client_context(sink))
    client.user(user)
    client.pass_(password)
    return client


def test_poplib_lists_and_retrieves_exact_bytes_over_stls(
    make_sink: Any, kind: str, tmp_path: Path
) -> None:
    sink = reader_sink(make_sink, kind, tmp_path)
    raw = make_raw(subject="Over POP3", body=".starts with a dot\r\n..two dots\r\nend")
    message_id = send(sink, raw)
    client = pop3(sink)
    assert client.stat() == (1, len(raw))
    assert client.list()[1] == [b"1 %d" % len(raw)]
    assert client.uidl()[1] == [b"1 " + message_id.encode()]
    _resp, lines, _octets = client.retr(1)
    assert b"\r\n".join(lines) + b"\r\n" == raw
    assert sink.store.unread() == 0  # RETR marks read
    _resp, top_lines, _octets = client.top(1, 1)
    assert top_lines[-2:] == [b"", b".starts with a dot"]
    client.quit()


def test_dele_deletes_at_quit_and_rset_undoes(make_sink: Any, kind: str, tmp_path: Path) -> None:
    sink = reader_sink(make_sink, kind, tmp_path)
    ids = [send(sink, make_raw(subject=f"m{i}")) for i in range(3)]
    client = pop3(sink)
    client.dele(1)
    client.rset()
    client.dele(2)
    with pytest.raises(poplib.error_proto, match="deleted"):
        client.retr(2)
    assert sink.store.count() == 3  # only at QUIT
    client.quit()
    assert sorted(sink.store.ids()) == sorted([ids[0], ids[2]])


def test_a_dropped_connection_deletes_nothing(make_sink: Any, tmp_path: Path) -> None:
    sink = reader_sink(make_sink, "memory", tmp_path)
    send(sink, make_raw())
    client = pop3(sink)
    client.dele(1)
    client.close()
    assert sink.store.count() == 1


def test_a_message_with_bare_lf_is_served_as_stored(make_sink: Any, tmp_path: Path) -> None:
    sink = reader_sink(make_sink, "memory", tmp_path)
    raw = b"From: a@example.test\nSubject: lf\n\n.line\nlast"
    sink.ingestor.ingest(raw, _envelope())
    session = RawSession(sink.reader_address("pop3"))
    session.line()
    session.send(b"USER u\r\nPASS p\r\nRETR 1\r\n")
    session.line()
    session.line()
    assert session.line() == b"+OK %d octets\r\n" % len(raw)
    body = b"".join(session.until(b".\r\n"))
    assert body == b"From: a@example.test\nSubject: lf\n\n..line\nlast\r\n.\r\n"
    session.close()


def _envelope() -> Any:
    from mailsink.message import Envelope

    return Envelope("a@example.test", ("b@example.test",))


def test_auth_plain_and_configured_credentials(make_sink: Any, tmp_path: Path) -> None:
    sink = reader_sink(make_sink, "memory", tmp_path, auth_users=(("dev", "s3cret"),))
    send(sink, make_raw())
    client = poplib.POP3(*sink.reader_address("pop3"), timeout=10)
    client.user("dev")
    with pytest.raises(poplib.error_proto, match="AUTH"):
        client.pass_("wrong")
    token = base64.b64encode(b"\0dev\0s3cret").decode()
    assert client._shortcmd(f"AUTH PLAIN {token}").startswith(b"+OK")  # type: ignore[attr-defined]
    assert client.stat()[0] == 1
    client.quit()


def test_a_login_that_is_an_address_sees_only_its_mail(make_sink: Any, tmp_path: Path) -> None:
    sink = reader_sink(make_sink, "memory", tmp_path)
    send(sink, make_raw(to="ann@example.test"), to=("ann@example.test",))
    send(sink, make_raw(to="bob@example.test"), to=("bob@example.test",))
    client = pop3(sink, "ann@example.test")
    assert client.stat()[0] == 1
    client.quit()


def test_implicit_tls_pop3s(make_sink: Any, tmp_path: Path) -> None:
    sink = reader_sink(make_sink, "memory", tmp_path, pop3s_port=0)
    send(sink, make_raw())
    host, port = sink.reader_address("pop3s")
    client = poplib.POP3_SSL(host, port, context=client_context(sink), timeout=10)
    client.user("u")
    client.pass_("p")
    assert client.stat()[0] == 1
    assert "STLS" not in client.capa()
    client.quit()


def test_malformed_commands_get_err_and_the_session_goes_on(make_sink: Any, tmp_path: Path) -> None:
    sink = reader_sink(make_sink, "memory", tmp_path)
    send(sink, make_raw())
    session = RawSession(sink.reader_address("pop3"))
    session.line()
    for bad in (b"RETR 1", b"PASS x", b"\xff\xfe", b"X" * 20000, b"AUTH PLAIN !!!", b"STAT"):
        session.send(bad + b"\r\n")
        assert session.line().startswith(b"-ERR"), bad[:20]
    session.send(b"USER u\r\nPASS p\r\n")
    assert session.line().startswith(b"+OK") and session.line().startswith(b"+OK")
    for bad in (b"RETR", b"RETR x", b"RETR 99", b"TOP 1", b"LIST 0", b"NOPE"):
        session.send(bad + b"\r\n")
        assert session.line().startswith(b"-ERR"), bad
    session.send(b"QUIT\r\n")
    assert session.line().startswith(b"+OK")
    session.close()
