"""``mailsink ingest`` and ``mailsink dump``: files in and out, byte-exact, as processes.

A mixed folder (.eml in CRLF and LF, a Maildir, an mbox with From lines in
bodies, a binary file and a text file that are not mail) goes in by SMTP to a
running sink and straight into a store file; dumping gives back every
message's bytes (CRLF line ends, as SMTP carries mail).  A hostile server's
message IDs never become paths outside the dump folder.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from mailsink.server import Sink

pytestmark = pytest.mark.slow

SCRIPT = Path(sys.executable).with_name("mailsink")
COMMAND = [str(SCRIPT)] if SCRIPT.exists() else [sys.executable, "-m", "mailsink"]

CRLF_EML = b"From: a@example.test\r\nTo: b@example.test\r\nSubject: crlf\r\n\r\nbody\r\n"
LF_EML = b"From: a@example.test\nTo: b@example.test\nSubject: lf\n\nline one\nline two\n"
MAILDIR_NEW = b"Return-Path: <bounce@example.test>\nTo: md@example.test\nSubject: md new\n\nx\n"
MAILDIR_CUR = b"To: md@example.test\nBcc: hidden@example.test\nSubject: md cur\n\n.dot\n"
MBOX = (
    b"From alice@example.test Tue Dec  1 10:00:00 2026\n"
    b"From: alice@example.test\nTo: m1@example.test\nSubject: mbox one\n\n"
    b">From the start of a line\n>>From twice quoted\nend\n"
    b"\n"
    b"From bob@example.test Tue Dec  1 10:01:00 2026\n"
    b"From: bob@example.test\nTo: m2@example.test\nSubject: mbox two\n\nsecond\n"
)
EXPECTED = {
    "crlf": CRLF_EML,
    "lf": LF_EML.replace(b"\n", b"\r\n"),
    "md new": MAILDIR_NEW.replace(b"\n", b"\r\n"),
    "md cur": MAILDIR_CUR.replace(b"\n", b"\r\n"),
    "mbox one": (
        b"From: alice@example.test\r\nTo: m1@example.test\r\nSubject: mbox one\r\n\r\n"
        b"From the start of a line\r\n>From twice quoted\r\nend\r\n"
    ),
    "mbox two": (
        b"From: bob@example.test\r\nTo: m2@example.test\r\nSubject: mbox two\r\n\r\nsecond\r\n"
    ),
}


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``mailsink ARGS`` as a process."""
    return subprocess.run(
        [*COMMAND, *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
    )


@pytest.fixture
def mixed(tmp_path: Path) -> Path:
    """Return a folder of every kind of mail file, and two files that are not mail."""
    folder = tmp_path / "mail"
    (folder / "Maildir" / "new").mkdir(parents=True)
    (folder / "Maildir" / "cur").mkdir()
    (folder / "Maildir" / "tmp").mkdir()
    (folder / "a.eml").write_bytes(CRLF_EML)
    (folder / "b.eml").write_bytes(LF_EML)
    (folder / "Maildir" / "new" / "1.host").write_bytes(MAILDIR_NEW)
    (folder / "Maildir" / "cur" / "2.host:2,S").write_bytes(MAILDIR_CUR)
    (folder / "archive.mbox").write_bytes(MBOX)
    (folder / "broken.eml").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00binary")
    (folder / "notes.txt").write_bytes(b"just some notes, not mail\n")
    return folder


def by_subject(folder: Path) -> dict[str, bytes]:
    """Return the dumped files keyed by their Subject."""
    found: dict[str, bytes] = {}
    for path in folder.glob("*.eml"):
        raw = path.read_bytes()
        subject = raw.split(b"Subject: ", 1)[1].split(b"\r\n", 1)[0].decode()
        found[subject] = raw
    return found


def test_ingest_by_smtp_then_dump_from_the_api_round_trips_byte_exact(
    make_sink: object, mixed: Path, tmp_path: Path
) -> None:
    sink: Sink = make_sink(http_port=0)  # type: ignore[operator]
    host, port = sink.smtp_address
    result = run("ingest", "--smtp", f"{host}:{port}", str(mixed))
    assert result.returncode == 1, result.stderr  # something was skipped
    assert "broken.eml: not mail" in result.stderr and "notes.txt: not mail" in result.stderr
    assert "6 stored, 2 skipped" in result.stderr
    assert sink.store.count() == 6
    md = next(m for m in sink.store.list().items if m.summary.subject == "md new")
    assert md.envelope.mail_from == "bounce@example.test"
    cur = next(m for m in sink.store.list().items if m.summary.subject == "md cur")
    assert set(cur.envelope.rcpt_tos) == {"md@example.test", "hidden@example.test"}

    out = tmp_path / "out"
    dumped = run("dump", "--url", str(sink.web_url), str(out))
    assert dumped.returncode == 0, dumped.stderr
    assert by_subject(out) == EXPECTED
    assert {p.stem for p in out.glob("*.eml")} == set(sink.store.ids())


def test_ingest_into_a_store_file_and_dump_mbox_round_trip(mixed: Path, tmp_path: Path) -> None:
    store = tmp_path / "mail.db"
    result = run("ingest", "--store", str(store), str(mixed))
    assert "6 stored, 2 skipped" in result.stderr, result.stderr
    out = tmp_path / "out"
    assert run("dump", "--store", str(store), str(out)).returncode == 0
    assert by_subject(out) == EXPECTED

    # Out as one mbox, into a new store, out again: the same bytes.
    mbox = tmp_path / "all.mbox"
    assert run("dump", "--store", str(store), "--mbox", str(mbox)).returncode == 0
    again = tmp_path / "again.db"
    result = run("ingest", "--store", str(again), str(mbox))
    assert result.returncode == 0, result.stderr
    out2 = tmp_path / "out2"
    assert run("dump", "--store", str(again), str(out2)).returncode == 0
    assert by_subject(out2) == EXPECTED


def test_dump_query_selects_messages(mixed: Path, tmp_path: Path) -> None:
    store = tmp_path / "mail.db"
    run("ingest", "--store", str(store), str(mixed))
    out = tmp_path / "out"
    result = run("dump", "--store", str(store), "--query", "subject:mbox", str(out))
    assert result.returncode == 0, result.stderr
    assert set(by_subject(out)) == {"mbox one", "mbox two"}


def test_ingest_to_an_unreachable_sink_exits_75(mixed: Path) -> None:
    result = run("ingest", "--smtp", "127.0.0.1:9", str(mixed / "a.eml"))
    assert result.returncode == 75
    assert "cannot deliver to a sink at 127.0.0.1:9" in result.stderr
    assert "Traceback" not in result.stderr


def test_ingest_logs_in_to_a_sink_that_requires_auth(make_sink: object, mixed: Path) -> None:
    sink: Sink = make_sink(auth_users=(("app", "pw"),), require_auth=True)  # type: ignore[operator]
    host, port = sink.smtp_address
    result = run("ingest", "--smtp", f"app:pw@{host}:{port}", str(mixed / "a.eml"))
    assert result.returncode == 0, result.stderr
    assert sink.store.list().items[0].envelope.auth_user == "app"
    wrong = run("ingest", "--smtp", f"app:nope@{host}:{port}", str(mixed / "a.eml"))
    assert wrong.returncode == 1 and "535" in wrong.stderr and "nope" not in wrong.stderr
    assert "Traceback" not in wrong.stderr


class HostileAPI(BaseHTTPRequestHandler):
    """A server whose message IDs try to leave the dump folder."""

    IDS = ("../escaped", "/tmp/absolute", "..", "a/b", "ok-1", "ok_2")

    def do_GET(self) -> None:
        if self.path.startswith("/api/v1/messages"):
            start = int(self.path.partition("start=")[2].partition("&")[0] or 0)
            created = "2026-12-01T10:00:00Z"
            items = [] if start else [{"ID": i, "Created": created} for i in self.IDS]
            body = json.dumps({"messages": items, "total": len(self.IDS)}).encode()
        else:
            body = b"Subject: from a hostile server\r\n\r\nx\r\n"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def hostile() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), HostileAPI)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_dump_never_writes_outside_the_folder_whatever_ids_a_server_sends(
    hostile: str, tmp_path: Path
) -> None:
    out = tmp_path / "deep" / "out"
    result = run("dump", "--url", hostile, str(out))
    assert result.returncode == 1
    assert sorted(p.name for p in out.iterdir()) == ["ok-1.eml", "ok_2.eml"]
    assert "unsafe message ID '../escaped'" in result.stderr
    assert not (tmp_path / "deep" / "escaped.eml").exists()
    assert sorted(p.name for p in tmp_path.rglob("*.eml")) == ["ok-1.eml", "ok_2.eml"]
