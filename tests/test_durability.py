"""An acknowledged message survives ``kill -9`` of the process at any moment (SQLite store)."""

from __future__ import annotations

import os
import signal
import smtplib
import threading
from pathlib import Path

import pytest

from helpers import make_raw
from mailsink.store import SQLiteStore
from procs import start_mailsink


@pytest.mark.slow
def test_acknowledged_messages_survive_kill_9_under_load(tmp_path: Path) -> None:
    db = tmp_path / "mail.db"
    running = start_mailsink(
        "--smtp", "127.0.0.1:0", "--http", "off", "--no-tls", "--store", str(db)
    )
    acknowledged: dict[str, bytes] = {}
    lock = threading.Lock()
    enough = threading.Event()
    stop = threading.Event()

    def send(worker: int) -> None:
        try:
            with smtplib.SMTP(*running.smtp, timeout=10) as client:
                client.ehlo()
                for i in range(10_000):
                    if stop.is_set():
                        return
                    raw = make_raw(subject=f"w{worker}-{i}", body=f"{worker}:{i} " + "x" * 500)
                    client.mail("a@x.test")
                    client.rcpt("b@x.test")
                    code, reply = client.data(raw)
                    if code != 250:
                        return
                    with lock:
                        acknowledged[reply.decode().rsplit(" ", 1)[-1]] = raw
                        if len(acknowledged) >= 300:
                            enough.set()
        except (OSError, smtplib.SMTPException):
            return  # the server was killed mid-session: expected

    threads = [threading.Thread(target=send, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    assert enough.wait(60), "the sink did not acknowledge 300 messages in time"
    os.kill(running.process.pid, signal.SIGKILL)  # while sessions are still sending
    running.process.wait(10)
    stop.set()
    for t in threads:
        t.join(30)
    running.process.stdout.close()  # type: ignore[union-attr]
    running.process.stderr.close()  # type: ignore[union-attr]

    store = SQLiteStore(db)
    try:
        missing = [mid for mid in acknowledged if store.raw(mid) is None]
        assert missing == [], f"{len(missing)} acknowledged messages lost"
        for message_id, raw in acknowledged.items():
            assert store.raw(message_id) == raw
        assert store.count() >= len(acknowledged)
    finally:
        store.close()
