"""The IMAP listener with Python's imaplib: read, search, flag, delete, IDLE, on both stores."""

from __future__ import annotations

import imaplib
import json
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from helpers import make_raw
from mailsink.message import Envelope
from mailsink.server import Sink
from reader_helpers import RawSession, client_context, reader_sink, send


def imap(sink: Sink, user: str = "anyone", password: str = "secret") -> imaplib.IMAP4:
    client = imaplib.IMAP4(*sink.reader_address("imap"), timeout=10)
    client.starttls(client_context(sink))
    client.login(user, password)
    return client


def test_imaplib_reads_a_message_sent_by_smtp_over_starttls(
    make_sink: Any, kind: str, tmp_path: Path
) -> None:
    sink = reader_sink(make_sink, kind, tmp_path)
    raw = make_raw(subject="Over IMAP", body="Line one\r\n.dot line")
    send(sink, raw)
    client = imap(sink)
    typ, data = client.select("INBOX")
    assert (typ, data) == ("OK", [b"1"])
    typ, fetched = client.uid("FETCH", "1:*", "(UID FLAGS RFC822.SIZE BODY.PEEK[])")
    assert typ == "OK"
    head, body = fetched[0]
    assert body == raw
    assert b"RFC822.SIZE %d" % len(raw) in head and b"FLAGS ()" in head
    client.logout()


def test_uids_are_stable_across_connections_and_a_restart(make_sink: Any, tmp_path: Path) -> None:
    sink = reader_sink(make_sink, "sqlite", tmp_path)
    for i in range(3):
        send(sink, make_raw(subject=f"m{i}"))
    client = imap(sink)
    client.select("INBOX")
    first = client.response("UIDVALIDITY")[1]
    uids = client.uid("SEARCH", "ALL")[1][0]
    client.logout()
    sink.stop()
    again = reader_sink(make_sink, "sqlite", tmp_path)
    client = imap(again)
    client.select("INBOX")
    assert client.response("UIDVALIDITY")[1] == first
    assert client.uid("SEARCH", "ALL")[1][0] == uids
    client.logout()


def api_messages(sink: Sink) -> list[dict[str, Any]]:
    with urllib.request.urlopen(f"{sink.web_url}/api/v1/messages") as response:
        messages: list[dict[str, Any]] = json.load(response)["messages"]
    return messages


def test_seen_set_in_imap_shows_as_read_in_the_api(
    make_sink: Any, kind: str, tmp_path: Path
) -> None:
    sink = reader_sink(make_sink, kind, tmp_path, http_port=0)
    send(sink, make_raw())
    assert [m["Read"] for m in api_messages(sink)] == [False]
    client = imap(sink)
    client.select("INBOX")
    client.store("1", "+FLAGS", "(\\Seen \\Flagged)")
    [message] = api_messages(sink)
    assert message["Read"] is True
    assert message["Tags"] == ["flagged"]
    client.store("1", "-FLAGS", "(\\Seen)")
    assert [m["Read"] for m in api_messages(sink)] == [False]
    client.logout()


def noop_until(client: imaplib.IMAP4, response: str) -> list[Any]:
    """Send NOOP until an untagged response of this kind comes (events arrive by a thread)."""
    deadline = time.monotonic() + 5
    found: list[Any] = [None]
    while found == [None] and time.monotonic() < deadline:
        client.noop()
        found = client.response(response)[1]
    return found


def test_read_in_the_ui_shows_as_seen_in_imap(make_sink: Any, kind: str, tmp_path: Path) -> None:
    sink = reader_sink(make_sink, kind, tmp_path)
    message_id = send(sink, make_raw())
    client = imap(sink)
    client.select("INBOX")
    assert client.fetch("1", "(FLAGS)")[1] == [b"1 (FLAGS ())"]  # now known to the session
    sink.mailbox.set_read([message_id], True)
    assert noop_until(client, "FETCH") == [b"1 (UID 1 FLAGS (\\Seen))"]
    assert client.fetch("1", "(FLAGS)")[1] == [b"1 (FLAGS (\\Seen))"]
    sink.mailbox.set_tags([message_id], ["flagged"])
    assert noop_until(client, "FETCH") == [b"1 (UID 1 FLAGS (\\Seen \\Flagged))"]
    client.logout()


def test_a_message_deleted_in_the_ui_disappears_from_imap(
    make_sink: Any, kind: str, tmp_path: Path
) -> None:
    sink = reader_sink(make_sink, kind, tmp_path, http_port=0)
    gone = send(sink, make_raw(subject="gone"))
    send(sink, make_raw(subject="kept"))
    client = imap(sink)
    assert client.select("INBOX")[1] == [b"2"]
    request = urllib.request.Request(
        f"{sink.web_url}/api/v1/messages",
        data=json.dumps({"IDs": [gone]}).encode(),
        method="DELETE",
        headers={"Content-Type": "application/json"},
    )
    urllib.request.urlopen(request).close()
    assert noop_until(client, "EXPUNGE") == [b"1"]
    client.logout()
    fresh = imap(sink)
    assert fresh.select("INBOX")[1] == [b"1"]
    subject = fresh.fetch("1", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")[1][0]
    assert isinstance(subject, tuple) and subject[1] == b"Subject: kept\r\n\r\n"
    fresh.logout()


def test_deleted_and_expunge_delete_from_the_store(
    make_sink: Any, kind: str, tmp_path: Path
) -> None:
    sink = reader_sink(make_sink, kind, tmp_path)
    ids = [send(sink, make_raw(subject=f"m{i}")) for i in range(3)]
    client = imap(sink)
    client.select("INBOX")
    client.store("2", "+FLAGS", "(\\Deleted)")
    assert sink.store.count() == 3  # \Deleted is this session's until EXPUNGE
    assert client.expunge() == ("OK", [b"2"])
    assert sorted(sink.store.ids()) == sorted([ids[0], ids[2]])
    client.uid("STORE", "3", "+FLAGS", "(\\Deleted)")
    client.close()  # CLOSE expunges too, silently
    assert sink.store.ids() == [ids[0]]
    client.logout()


def idle_until_exists(client: RawSession) -> float:
    """Read IDLE output until an EXISTS; return when it arrived."""
    while True:
        line = client.line()
        assert line, "connection closed while idling"
        if line.endswith(b"EXISTS\r\n"):
            return time.perf_counter()


def test_an_idle_client_hears_of_new_mail_within_100_ms_of_the_250(
    make_sink: Any, kind: str, tmp_path: Path
) -> None:
    sink = reader_sink(make_sink, kind, tmp_path)
    client = RawSession(sink.reader_address("imap"))
    client.line()
    client.send(b"a LOGIN user pass\r\nb SELECT INBOX\r\n")
    client.until(b"b OK")
    delays = []
    for i in range(5):
        client.send(b"c IDLE\r\n")
        assert client.line().startswith(b"+ ")
        send(sink, make_raw(subject=f"new {i}"))
        acknowledged = time.perf_counter()
        delays.append(idle_until_exists(client) - acknowledged)
        client.send(b"DONE\r\n")
        client.until(b"c OK")
    client.close()
    # The EXISTS may even arrive before smtplib has read the 250 (negative delay).
    print(f"IDLE: EXISTS after the 250, ms: {[round(d * 1000, 2) for d in delays]}")
    assert max(delays) < 0.1


def test_search_keys(make_sink: Any, kind: str, tmp_path: Path) -> None:
    sink = reader_sink(make_sink, kind, tmp_path)
    send(sink, make_raw(subject="Invoice 42", sender="billing@shop.test", body="Total: 12 EUR"))
    send(sink, make_raw(subject="Welcome", to="carol@example.test", body="Hello there"))
    client = imap(sink)
    client.select("INBOX")
    client.store("2", "+FLAGS", "(\\Seen)")

    def search(*keys: str, uid: bool = False) -> bytes:
        typ, data = client.uid("SEARCH", *keys) if uid else client.search(None, *keys)
        assert typ == "OK"
        return bytes(data[0])

    assert search("ALL") == b"1 2"
    assert search("UNSEEN") == b"1"
    assert search("SEEN") == b"2"
    assert search("FROM", "billing") == b"1"
    assert search("TO", "carol@example.test") == b"2"
    assert search("SUBJECT", "invoice") == b"1"
    assert search("BODY", '"12 eur"') == b"1"
    assert search("TEXT", "welcome") == b"2"
    assert search("NOT", "SUBJECT", "invoice") == b"2"
    assert search("OR", "SUBJECT", "invoice", "BODY", "hello") == b"1 2"
    assert search("SINCE", "1-Jan-2000", "BEFORE", "1-Jan-2999") == b"1 2"
    assert search("BEFORE", "1-Jan-2000") == b""
    assert search("UID", "2:*", uid=True) == b"2"
    assert search("2") == b"2"
    assert search("CHARSET", "UTF-8", "SUBJECT", "welcome") == b"2"
    with pytest.raises(imaplib.IMAP4.error):
        search("BEFORE", "yesterday")
    client.logout()


def test_a_login_that_is_an_address_or_a_tag_sees_only_that_mail(
    make_sink: Any, kind: str, tmp_path: Path
) -> None:
    sink = reader_sink(make_sink, kind, tmp_path)
    send(sink, make_raw(to="ann@example.test"), to=("ann@example.test",))
    send(sink, make_raw(to="bob@example.test"), to=("bob@example.test",))
    hidden = send(sink, make_raw(to="list@example.test"), to=("ann@example.test",))  # Bcc
    tagged = send(sink, make_raw(subject="tagged"))
    sink.mailbox.set_tags([tagged], ["run-7"])
    for user, count in (("ann@example.test", b"2"), ("tag:run-7", b"1"), ("admin", b"4")):
        client = imap(sink, user)
        assert client.select("INBOX")[1] == [count], user
        client.logout()
    client = imap(sink, "ANN@example.test")
    client.select("INBOX")
    assert client.uid("SEARCH", "ALL")[1][0].split()[-1] == str(sink.store.uids()[2][0]).encode()
    assert sink.store.uids()[2][1] == hidden
    client.logout()


def test_auth_credentials_are_checked_when_configured(make_sink: Any, tmp_path: Path) -> None:
    sink = reader_sink(make_sink, "memory", tmp_path, auth_users=(("dev", "s3cret"),))
    client = imaplib.IMAP4(*sink.reader_address("imap"), timeout=10)
    with pytest.raises(imaplib.IMAP4.error, match="AUTHENTICATIONFAILED"):
        client.login("dev", "wrong")
    typ, _ = client.authenticate("PLAIN", lambda _challenge: b"\0dev\0s3cret")
    assert typ == "OK"
    assert client.select("INBOX")[0] == "OK"
    client.logout()


def test_examine_is_read_only(make_sink: Any, tmp_path: Path) -> None:
    sink = reader_sink(make_sink, "memory", tmp_path)
    send(sink, make_raw())
    client = imap(sink)
    client.select("INBOX", readonly=True)
    client.fetch("1", "(BODY[])")
    assert sink.store.unread() == 1
    typ, data = client.store("1", "+FLAGS", "(\\Seen)")
    assert typ == "NO" and b"read-only" in data[0]
    client.logout()


def test_fetch_body_without_peek_marks_read(make_sink: Any, tmp_path: Path) -> None:
    sink = reader_sink(make_sink, "memory", tmp_path)
    send(sink, make_raw())
    client = imap(sink)
    client.select("INBOX")
    data = client.fetch("1", "(BODY[TEXT])")[1]
    last = data[-1]
    assert isinstance(last, bytes) and b"FLAGS (\\Seen)" in last
    assert sink.store.unread() == 0
    client.logout()


def test_list_status_and_other_mailbox_commands(make_sink: Any, tmp_path: Path) -> None:
    sink = reader_sink(make_sink, "memory", tmp_path)
    send(sink, make_raw())
    client = imap(sink)
    assert client.list()[1] == [b'(\\HasNoChildren) "/" INBOX']
    assert client.lsub()[1] == [b'() "/" INBOX']
    status = client.status("INBOX", "(MESSAGES UNSEEN UIDNEXT UIDVALIDITY RECENT)")[1][0]
    assert b"MESSAGES 1" in status and b"UNSEEN 1" in status and b"UIDNEXT 2" in status
    assert client.select("Sent")[0] == "NO"
    assert client.create("Archive")[0] == "NO"
    client.select("INBOX")
    assert client.copy("1", "INBOX")[0] == "NO"
    client.logout()


def test_each_tag_is_a_folder_too(make_sink: Any, kind: str, tmp_path: Path) -> None:
    sink = reader_sink(make_sink, kind, tmp_path)
    first = send(sink, make_raw(subject="one"))
    second = send(sink, make_raw(subject="two"))
    sink.mailbox.set_tags([first, second], ["Orders"])
    sink.mailbox.set_tags([second], ["Orders", "needs review", "caf\u00e9"])
    client = imap(sink)
    assert client.list()[1] == [
        b'(\\HasNoChildren) "/" INBOX',
        b'(\\Noselect \\HasChildren) "/" Tags',
        b'(\\HasNoChildren) "/" "Tags/needs review"',
        b'(\\HasNoChildren) "/" Tags/Orders',
    ]
    assert client.list('""', "%")[1] == [
        b'(\\HasNoChildren) "/" INBOX',
        b'(\\Noselect \\HasChildren) "/" Tags',
    ]
    assert client.select('"Tags/needs review"')[1] == [b"1"]
    assert client.status("Tags/orders", "(MESSAGES)")[1] == [b"Tags/orders (MESSAGES 2)"]
    assert client.select("Tags/Nope")[0] == "NO"
    client.logout()


def test_imaps_serves_a_large_8bit_message_byte_for_byte(
    make_sink: Any, kind: str, tmp_path: Path
) -> None:
    sink = reader_sink(make_sink, kind, tmp_path, imaps_port=0)
    body = bytes(range(256)).replace(b"\r", b"").replace(b"\n", b"") * 12_000
    raw = b"From: a@example.test\r\nSubject: big\r\n\r\n" + b"\r\n".join(
        body[i : i + 900] for i in range(0, len(body), 900)
    )
    sink.ingestor.ingest(raw, Envelope("a@example.test", ("b@example.test",)))
    host, port = sink.reader_address("imaps")
    client = imaplib.IMAP4_SSL(host, port, ssl_context=client_context(sink), timeout=30)
    assert "STARTTLS" not in client.capabilities
    client.login("u", "p")
    client.select("INBOX")
    data = client.fetch("1", "(RFC822.SIZE BODY.PEEK[])")[1][0]
    assert isinstance(data, tuple)
    assert data[1] == raw and b"RFC822.SIZE %d" % len(raw) in data[0]
    client.logout()
