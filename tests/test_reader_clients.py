"""Real mail clients read captured mail: curl (imap://, pop3://) and fetchmail."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from helpers import make_raw
from mailsink.server import Sink
from reader_helpers import reader_sink, send

curl = shutil.which("curl")
fetchmail = shutil.which("fetchmail")
needs_curl = pytest.mark.skipif(curl is None, reason="curl missing (scripts/test installs it)")
needs_fetchmail = pytest.mark.skipif(
    fetchmail is None, reason="fetchmail missing (scripts/test installs it)"
)


def run_curl(sink: Sink, url: str, *extra: str) -> bytes:
    assert sink.certificate is not None
    result = subprocess.run(
        [
            *(curl or "curl", "-sS", "--max-time", "20", "--ssl-reqd"),
            *("--cacert", str(sink.certificate.cert), "-u", "dev:pw", *extra, url),
        ],
        capture_output=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


@needs_curl
def test_curl_lists_and_fetches_by_uid_over_imap_starttls(
    make_sink: Any, kind: str, tmp_path: Path
) -> None:
    sink = reader_sink(make_sink, kind, tmp_path)
    raw = make_raw(subject="For curl", body="curl body")
    send(sink, make_raw(subject="other"))
    send(sink, raw)
    host, port = sink.reader_address("imap")
    base = f"imap://{host}:{port}"
    assert run_curl(sink, f"{base}/") == b'* LIST (\\HasNoChildren) "/" INBOX\r\n'
    uid = sink.store.uids()[1][0]
    found = run_curl(sink, f"{base}/INBOX", "-X", "UID SEARCH SUBJECT curl")
    assert found == b"* SEARCH %d\r\n" % uid
    assert run_curl(sink, f"{base}/INBOX;UID={uid}") == raw


@needs_curl
def test_curl_lists_retrieves_and_deletes_over_pop3_stls(
    make_sink: Any, kind: str, tmp_path: Path
) -> None:
    sink = reader_sink(make_sink, kind, tmp_path)
    raw = make_raw(subject="For curl over POP3")
    send(sink, raw)
    host, port = sink.reader_address("pop3")
    base = f"pop3://{host}:{port}"
    assert run_curl(sink, f"{base}/") == b"1 %d\r\n" % len(raw)
    assert run_curl(sink, f"{base}/1") == raw
    run_curl(sink, f"{base}/1", "-X", "DELE", "-I")
    assert sink.store.count() == 0


@needs_fetchmail
def test_fetchmail_reads_a_message_sent_by_smtp(make_sink: Any, kind: str, tmp_path: Path) -> None:
    sink = reader_sink(make_sink, kind, tmp_path)
    raw = make_raw(subject="For fetchmail", body="Delivered by fetchmail")
    send(sink, raw)
    assert sink.certificate is not None
    _host, port = sink.reader_address("imap")
    out = tmp_path / "delivered.eml"
    home = tmp_path / "fetchmail-home"
    home.mkdir()
    rc = home / "fetchmailrc"
    # "localhost": the certificate names it (fetchmail checks the name, not the IP).
    rc.write_text(
        f'poll localhost service {port} protocol IMAP auth password user "dev" password "pw"\n'
        f'  is "dev" here keep fetchall sslcertck sslcertfile "{sink.certificate.cert}"\n'
        f'  sslproto "tls1.2+" mda "cat > {out}"\n'
    )
    rc.chmod(0o600)
    result = subprocess.run(
        [fetchmail or "fetchmail", "-f", str(rc), "-v", "--nosyslog", "--nodetach"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={"HOME": str(home), "FETCHMAILHOME": str(home), "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "upgrade to TLS succeeded" in result.stdout + result.stderr
    delivered = out.read_bytes()
    # fetchmail adds its own Received header on top and delivers LF line endings.
    assert delivered.endswith(raw.replace(b"\r\n", b"\n"))
    assert sink.store.unread() == 0  # fetched without PEEK: marked read
