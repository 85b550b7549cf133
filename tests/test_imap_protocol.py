"""The IMAP listener on a raw socket: hostile input, limits, sections and structure."""

from __future__ import annotations

import socket
import time
from pathlib import Path
from typing import Any

import pytest

from mailsink.imap.parser import MAX_LITERAL
from mailsink.message import Envelope
from mailsink.server import Sink
from reader_helpers import RawSession, reader_sink

MULTIPART = (
    b"From: Ann <ann@example.test>\r\n"
    b'To: bob@example.test, "Carol C." <carol@example.test>\r\n'
    b"Subject: =?utf-8?q?Caf=C3=A9?=\r\n"
    b"Date: Mon, 01 Jan 2024 10:00:00 +0000\r\n"
    b"Message-ID: <m1@example.test>\r\n"
    b"MIME-Version: 1.0\r\n"
    b'Content-Type: multipart/mixed; boundary="b1"\r\n'
    b"\r\n"
    b"preamble\r\n"
    b"--b1\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"\r\n"
    b"Hello\r\nworld\r\n"
    b"--b1\r\n"
    b"Content-Type: application/pdf; name=a.pdf\r\n"
    b"Content-Transfer-Encoding: base64\r\n"
    b'Content-Disposition: attachment; filename="a.pdf"\r\n'
    b"\r\n"
    b"JVBERi0=\r\n"
    b"--b1\r\n"
    b"Content-Type: message/rfc822\r\n"
    b"\r\n"
    b"Subject: inner\r\n"
    b"\r\n"
    b"inner body\r\n"
    b"--b1--\r\n"
    b"epilogue\r\n"
)


def store_raw(sink: Sink, raw: bytes) -> None:
    sink.ingestor.ingest(raw, Envelope("a@example.test", ("b@example.test",)))


def logged_in(sink: Sink, select: bool = True) -> RawSession:
    session = RawSession(sink.reader_address("imap"))
    assert session.line().startswith(b"* OK")
    session.send(b"a LOGIN user pass\r\n")
    session.until(b"a OK")
    if select:
        session.send(b"s SELECT INBOX\r\n")
        session.until(b"s OK")
    return session


def fetch(session: RawSession, what: bytes) -> bytes:
    session.send(b"f FETCH 1 " + what + b"\r\n")
    return b"".join(session.until(b"f "))


@pytest.fixture
def sink(make_sink: Any, tmp_path: Path) -> Sink:
    made = reader_sink(make_sink, "memory", tmp_path)
    store_raw(made, MULTIPART)
    return made


def test_sections_are_the_exact_bytes(sink: Sink) -> None:
    session = logged_in(sink)
    # The line break before a boundary belongs to the boundary (RFC 2046).
    assert b"BODY[1] {12}\r\nHello\r\nworld)" in fetch(session, b"BODY.PEEK[1]")
    assert b"{8}\r\nJVBERi0=)" in fetch(session, b"BODY.PEEK[2]")
    mime = fetch(session, b"BODY.PEEK[1.MIME]")
    assert b"Content-Type: text/plain; charset=utf-8\r\n\r\n" in mime
    assert b"{18}\r\nSubject: inner\r\n\r\n" in fetch(session, b"BODY.PEEK[3.HEADER]")
    assert b"{10}\r\ninner body)" in fetch(session, b"BODY.PEEK[3.TEXT]")
    assert b"BODY[]<6> {3}\r\nAnn" in fetch(session, b"BODY.PEEK[]<6.3>")
    fields = fetch(session, b"BODY.PEEK[HEADER.FIELDS (subject MESSAGE-id)]")
    assert b"Subject: =?utf-8?q?Caf=C3=A9?=\r\nMessage-ID: <m1@example.test>\r\n\r\n" in fields
    whole = fetch(session, b"(RFC822.SIZE BODY.PEEK[])")
    assert b"RFC822.SIZE %d" % len(MULTIPART) in whole and MULTIPART in whole
    assert b"BODY[9] {0}\r\n" in fetch(session, b"BODY.PEEK[9]")
    session.close()


def test_bodystructure_and_envelope(sink: Sink) -> None:
    session = logged_in(sink)
    structure = fetch(session, b"BODYSTRUCTURE")
    assert b'("TEXT" "PLAIN" ("CHARSET" "utf-8") NIL NIL "7BIT" 12 2' in structure
    assert b'"APPLICATION" "PDF" ("NAME" "a.pdf") NIL NIL "BASE64" 8 NIL' in structure
    assert b'("ATTACHMENT" ("FILENAME" "a.pdf"))' in structure
    assert b'"MESSAGE" "RFC822" NIL NIL NIL "7BIT" 28 (NIL "inner"' in structure
    assert b' "MIXED" ("BOUNDARY" "b1") NIL NIL NIL)' in structure
    envelope = fetch(session, b"ENVELOPE")
    assert b'"Mon, 01 Jan 2024 10:00:00 +0000" "=?utf-8?q?Caf=C3=A9?="' in envelope
    assert b'(("Ann" NIL "ann" "example.test"))' in envelope
    assert b'((NIL NIL "bob" "example.test")("Carol C." NIL "carol" "example.test"))' in envelope
    assert b'"<m1@example.test>")' in envelope
    session.close()


def test_a_bare_lf_message_is_served_as_stored_with_a_true_size(
    make_sink: Any, tmp_path: Path
) -> None:
    sink = reader_sink(make_sink, "memory", tmp_path)
    raw = b"From: a@example.test\nSubject: lf only\n\nbody\n"
    store_raw(sink, raw)
    session = logged_in(sink)
    data = fetch(session, b"(RFC822.SIZE BODY.PEEK[] BODY.PEEK[HEADER] BODY.PEEK[TEXT])")
    assert b"RFC822.SIZE %d " % len(raw) in data
    assert b"BODY[] {%d}\r\n" % len(raw) + raw in data
    assert b"BODY[HEADER] {39}\r\nFrom: a@example.test\nSubject: lf only\n\n" in data
    assert b"BODY[TEXT] {5}\r\nbody\n" in data
    session.close()


@pytest.mark.parametrize(
    "command",
    [
        b"",
        b"   ",
        b"tag",
        b"t FROB",
        b"t SELECT",
        b"t FETCH 1 (BODY[",
        b"t FETCH 1 (FLAGS",
        b"t FETCH 1 FLAGS)",
        b"t FETCH 0 FLAGS",
        b"t FETCH x:y FLAGS",
        b"t FETCH 1 BODY[NOPE]",
        b"t FETCH 1 BODY[]<0.0>",
        b"t FETCH 1 NOTANITEM",
        b"t STORE 1 FLAGS",
        b"t STORE 1 NOPE (\\Seen)",
        b"t SEARCH",
        b"t SEARCH NOPE",
        b"t SEARCH SINCE 99-Foo-2024",
        b't SEARCH SUBJECT "unterminated',
        b"t SEARCH " + b"(" * 40 + b"ALL" + b")" * 40,
        b"t UID",
        b"t UID FROB 1",
        b"t LOGIN a b",
        b"t \xff\xfe",
        b"t FETCH 1 (" + b"FLAGS " * 20000 + b")",
    ],
)
def test_malformed_commands_get_bad_and_the_session_goes_on(sink: Sink, command: bytes) -> None:
    session = logged_in(sink)
    session.send(command + b"\r\n")
    reply = session.line()
    assert b" BAD " in reply, reply
    session.send(b"n NOOP\r\n")
    assert session.until(b"n ")[-1] == b"n OK NOOP completed\r\n"
    session.close()


def test_an_overlong_line_and_a_too_large_literal_are_refused(sink: Sink) -> None:
    session = logged_in(sink, select=False)
    session.send(b"x " + b"A" * 100_000 + b"\r\n")
    assert session.line() == b"* BAD line too long\r\n"
    session.send(b"l LOGIN {%d}\r\n" % (MAX_LITERAL + 1))
    assert session.line() == b"l BAD literal too large\r\n"
    session.close()
    session = RawSession(sink.reader_address("imap"))
    session.line()
    session.send(b"l LOGIN {4}\r\n")
    assert session.line().startswith(b"+ ")
    session.send(b"user {4+}\r\npass\r\n")
    assert session.line().startswith(b"l OK")
    session.send(b"m NOOP {%d+}\r\n" % (MAX_LITERAL + 1))
    assert session.line() == b"* BYE literal too large\r\n"
    assert session.line() == b""
    session.close()


def test_commands_before_login_are_refused(sink: Sink) -> None:
    session = RawSession(sink.reader_address("imap"))
    session.line()
    session.send(b"a SELECT INBOX\r\nb FETCH 1 FLAGS\r\nc LOGOUT\r\n")
    lines = session.until(b"c OK")
    assert lines[0].startswith(b"a BAD") and lines[1].startswith(b"b BAD")
    session.close()


def test_starttls_refuses_pipelined_plain_text(sink: Sink) -> None:
    session = RawSession(sink.reader_address("imap"))
    session.line()
    session.send(b"a STARTTLS\r\nb LOGIN injected pass\r\n")
    assert session.line().startswith(b"a BAD")
    session.close()


def test_connections_are_capped(make_sink: Any, tmp_path: Path) -> None:
    sink = reader_sink(make_sink, "memory", tmp_path, reader_connections=2)
    first, second = (RawSession(sink.reader_address("imap")) for _ in range(2))
    assert first.line().startswith(b"* OK") and second.line().startswith(b"* OK")
    third = RawSession(sink.reader_address("pop3"))
    assert third.line().startswith(b"-ERR [SYS/TEMP] too many connections")
    third.close()
    first.close()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        fourth = RawSession(sink.reader_address("imap"))
        greeting = fourth.line()
        fourth.close()
        if greeting.startswith(b"* OK"):
            break
        time.sleep(0.05)
    assert greeting.startswith(b"* OK")
    second.close()


def test_a_silent_client_is_disconnected(make_sink: Any, tmp_path: Path) -> None:
    sink = reader_sink(make_sink, "memory", tmp_path, reader_idle_timeout=0.3)
    session = RawSession(sink.reader_address("imap"))
    session.line()
    session.sock.settimeout(5)
    assert session.line() == b""
    session.close()


def test_idle_ends_with_done_and_reports_deletes(sink: Sink) -> None:
    session = logged_in(sink)
    session.send(b"i IDLE\r\n")
    assert session.line().startswith(b"+ ")
    sink.mailbox.delete(sink.store.ids())
    assert session.line() == b"* 1 EXPUNGE\r\n"
    session.send(b"DONE\r\n")
    assert session.line() == b"i OK IDLE terminated\r\n"
    session.close()


def test_the_listener_survives_a_client_that_vanishes(sink: Sink) -> None:
    for _ in range(5):
        session = logged_in(sink)
        session.send(b"f FETCH 1:* (BODY.PEEK[])\r\n")
        session.sock.shutdown(socket.SHUT_RDWR)
        session.close()
    session = logged_in(sink)
    session.send(b"n NOOP\r\n")
    assert session.until(b"n ")[-1].startswith(b"n OK")
    session.close()


THUNDERBIRD = [
    b"1 capability",
    b"2 authenticate PLAIN AGRldgBwdw==",
    b'3 ID ("name" "Thunderbird" "version" "128.0")',
    b"4 namespace",
    b'5 lsub "" "*"',
    b'6 list "" "INBOX"',
    b'7 list "" "%"',
    b'8 select "INBOX"',
    b"9 UID fetch 1:* (FLAGS)",
    b"10 UID fetch 1 (UID RFC822.SIZE FLAGS BODY.PEEK[HEADER.FIELDS (From To Cc Bcc Subject "
    b"Date Message-ID Priority X-Priority References Newsgroups In-Reply-To Content-Type "
    b"Reply-To)])",
    b"11 UID fetch 1 (UID RFC822.SIZE BODY.PEEK[]<0.10240>)",
    b"12 UID fetch 1 (UID BODYSTRUCTURE)",
    b"13 UID fetch 1 (BODY.PEEK[1.MIME] BODY.PEEK[1])",
    b"14 UID store 1 +Flags (\\Seen)",
    b"15 UID store 1 +Flags (NonJunk)",
    b"16 noop",
    b'17 STATUS "INBOX" (UIDNEXT MESSAGES UNSEEN RECENT)',
    b"18 UID fetch 1:* (FLAGS) ",
    b"19 UID store 1 +Flags (\\Deleted)",
    b"20 UID expunge 1",
    b"21 close",
    b"22 logout",
]


def test_a_thunderbird_session_gets_ok_to_every_command(sink: Sink) -> None:
    session = RawSession(sink.reader_address("imap"))
    session.line()
    for command in THUNDERBIRD:
        tag = command.split(b" ", 1)[0]
        session.send(command + b"\r\n")
        reply = session.until(tag + b" ")[-1]
        assert reply.startswith(tag + b" OK"), (command, reply)
    assert sink.store.count() == 0
    session.close()
