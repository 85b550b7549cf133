"""The PostgreSQL store when things go wrong (a full disk) and work one node at a time does.

A real server the suite started; a real small tmpfs for the full disk.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import secrets
import smtplib
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psycopg
import pytest

from helpers import incoming
from mailsink.activity import Retention
from mailsink.mailbox import Mailbox
from mailsink.server import Sink
from mailsink.store.postgres import PostgresStore
from pg_server import PostgresServer


@dataclass
class SmallDisk:
    """A schema whose tables live on a tmpfs of a few megabytes (a tablespace)."""

    url: str
    folder: Path

    def grow(self, size: str) -> None:
        """Give the disk more room, as an operator would."""
        subprocess.run(["mount", "-o", f"remount,size={size}", str(self.folder)], check=True)


@pytest.fixture
def small_disk(postgres_server: PostgresServer) -> Iterator[SmallDisk]:
    """Return a new schema whose tables live on a 2 MB tmpfs (skipped unless root)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs for a tablespace needs root")
    folder = Path(tempfile.mkdtemp(prefix="mailsink-small-"))
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m,mode=0700", "tmpfs", str(folder)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        folder.rmdir()
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    name = f"small_{secrets.token_hex(4)}"
    try:
        user = pwd.getpwnam("postgres")
        os.chown(folder, user.pw_uid, user.pw_gid)
        with psycopg.connect(postgres_server.url(), autocommit=True) as conn:
            conn.execute(f"CREATE TABLESPACE {name} LOCATION '{folder}'")
            conn.execute(f"CREATE SCHEMA {name}")
        options = f"-csearch_path={name},public -cdefault_tablespace={name}"
        yield SmallDisk(postgres_server.url() + "?options=" + quote(options), folder)
    finally:
        with (
            contextlib.suppress(psycopg.Error),
            psycopg.connect(postgres_server.url(), autocommit=True) as conn,
        ):
            conn.execute(f"DROP SCHEMA IF EXISTS {name} CASCADE")
            conn.execute(f"DROP TABLESPACE IF EXISTS {name}")
        subprocess.run(["umount", "-l", str(folder)], check=False)
        folder.rmdir()


def test_a_full_disk_answers_452_never_250_nor_5xx_and_mail_flows_again_when_freed(
    make_sink: Callable[..., Any], small_disk: SmallDisk
) -> None:
    sink: Sink = make_sink(store=small_disk.url, max_messages=0)
    body = secrets.token_hex(60_000)  # 120 KB that does not compress
    message = f"Subject: big\r\nTo: b@example.test\r\n\r\n{body}\r\n".encode()
    accepted = 0
    replies: list[tuple[int, bytes]] = []
    with smtplib.SMTP(*sink.smtp_address, timeout=30) as client:
        client.ehlo()
        for _ in range(40):  # 4.8 MB for a 2 MB disk
            client.mail("a@example.test")
            client.rcpt("b@example.test")
            code, reply = client.data(message)
            replies.append((code, reply))
            if code == 250:
                accepted += 1
            else:
                break
    assert accepted > 0, replies
    code, reply = replies[-1]
    assert code == 452 and b"4.3.1" in reply, replies[-3:]
    assert sink.mailbox.store.count() == accepted, "every 250 is stored, nothing else is"

    small_disk.grow("8m")  # no restart, no reconnect: the next message is stored
    with smtplib.SMTP(*sink.smtp_address, timeout=30) as client:
        client.sendmail("a@example.test", ["b@example.test"], message)
    assert sink.mailbox.store.count() == accepted + 1


def test_delete_all_on_a_full_disk_answers_507_with_a_reason_then_works_once_there_is_room(
    make_sink: Callable[..., Any], small_disk: SmallDisk
) -> None:
    """Delete-all on a tablespace with no room left: a clear 507, never a 500, and nothing lost.

    PostgreSQL's TRUNCATE gives each index a new file whose first page must
    be written before the old files go at commit, so on a completely full
    tablespace even delete-all fails; the API says so and the mail stays.
    """
    sink: Sink = make_sink(store=small_disk.url, max_messages=0, http_port=0)
    message = f"Subject: big\r\nTo: b@example.test\r\n\r\n{secrets.token_hex(60_000)}\r\n".encode()
    accepted = 0
    with smtplib.SMTP(*sink.smtp_address, timeout=30) as client:
        client.ehlo()
        for _ in range(40):
            client.mail("a@example.test")
            client.rcpt("b@example.test")
            code, _reply = client.data(message)
            if code != 250:
                assert code == 452
                break
            accepted += 1
    assert 0 < accepted < 40, "the 2 MB disk filled up"
    assert sink.http_address is not None
    url = "http://{}:{}/api/v1/messages".format(*sink.http_address)

    def delete_all() -> tuple[int, bytes]:
        request = urllib.request.Request(url, method="DELETE")
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()

    status, body = delete_all()
    assert status == 507, body
    assert b"disk is full" in body and b"Traceback" not in body
    assert sink.mailbox.store.count() == accepted, "a failed delete-all deletes nothing"

    small_disk.grow("8m")
    assert delete_all()[0] == 200
    assert sink.mailbox.store.count() == 0


@pytest.fixture
def two_stores(postgres_url: Callable[[], str]) -> Iterator[tuple[PostgresStore, PostgresStore]]:
    """Two stores on one schema, as two nodes have."""
    url = postgres_url()
    a, b = PostgresStore(url, max_messages=5).start(), PostgresStore(url, max_messages=5).start()
    yield a, b
    for store in (a, b):
        store.close()


def test_one_node_at_a_time_leads_the_pruning(
    two_stores: tuple[PostgresStore, PostgresStore],
) -> None:
    a, b = two_stores
    with a.lead("prune") as a_leads, b.lead("prune") as b_leads:
        assert (a_leads, b_leads) == (True, False)
    with b.lead("prune") as b_leads:
        assert b_leads, "the lock went with a's transaction"


def test_an_age_sweep_is_skipped_while_another_node_sweeps(
    two_stores: tuple[PostgresStore, PostgresStore],
) -> None:
    a, b = two_stores
    b.max_messages = 0
    b.add([incoming() for _ in range(3)])
    retention = Retention(Mailbox(b), max_age=60)
    later = time.time() + 3600  # every message is too old by then
    with a.lead("prune") as a_leads:
        assert a_leads
        assert retention.prune(now=later) == 0
        assert b.count() == 3, "b left the sweep to a"
    assert retention.prune(now=later) == 3
    assert b.count() == 0


def test_the_count_limit_is_kept_by_whichever_node_is_not_kept_out(
    two_stores: tuple[PostgresStore, PostgresStore],
) -> None:
    a, b = two_stores
    with b.lead("prune"):
        for _ in range(8):
            a.add([incoming()])
        assert a.count() == 8, "a did not prune while b held the lock"
    a.add([incoming()])
    assert a.count() == b.count() == 5
