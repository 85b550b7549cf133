"""8-bit envelopes refused at the command, RFC 5321 lengths, a bad message fails alone.

Issue 11, items 4 and 12.
"""

from __future__ import annotations

import asyncio
import smtplib
import threading
from pathlib import Path

from helpers import make_raw, raw_session
from mailsink.ingest import Ingestor
from mailsink.mailbox import Mailbox
from mailsink.message import Envelope
from mailsink.server import Sink
from mailsink.store import SQLiteStore


def session(sink: Sink, lines: list[bytes]) -> list[bytes]:
    """Send raw protocol lines one by one and return the final reply line of each."""
    return raw_session(sink.smtp_address, lines)[1:]


def codes(replies: list[bytes]) -> list[bytes]:
    return [reply[:3] for reply in replies]


def test_an_8bit_sender_without_smtputf8_is_refused_at_mail_from(sink: Sink) -> None:
    replies = session(
        sink,
        [
            b"EHLO x\r\n",
            "MAIL FROM:<jörg@example.test>\r\n".encode(),
            b"MAIL FROM:<ok@example.test>\r\n",
            "RCPT TO:<zoë@example.test>\r\n".encode(),
            b"RCPT TO:<bob@example.test>\r\n",
            b"QUIT\r\n",
        ],
    )
    assert codes(replies) == [b"250", b"553", b"250", b"553", b"250", b"221"]
    assert b"5.6.7" in replies[1] and b"SMTPUTF8" in replies[1]


def test_bytes_that_are_not_utf8_are_refused_even_with_smtputf8(sink: Sink) -> None:
    replies = session(
        sink,
        [
            b"EHLO x\r\n",
            b"MAIL FROM:<j\xf6rg@example.test> SMTPUTF8\r\n",
            "MAIL FROM:<jörg@example.test> SMTPUTF8\r\n".encode(),
            b"RCPT TO:<z\xeb@example.test>\r\n",
            "RCPT TO:<zoë@example.test>\r\n".encode(),
            b"QUIT\r\n",
        ],
    )
    assert codes(replies) == [b"250", b"501", b"250", b"501", b"250", b"221"]


def test_an_8bit_helo_name_is_refused(sink: Sink) -> None:
    replies = session(
        sink,
        [
            b"HELO h\xe9llo\r\n",
            b"EHLO h\xe9llo\r\n",
            "EHLO héllo.example\r\n".encode(),
            b"HELO plain.example\r\n",
            b"QUIT\r\n",
        ],
    )
    assert codes(replies) == [b"501", b"501", b"250", b"250", b"221"]


def test_8bit_envelopes_never_reach_data_and_good_mail_still_goes_through(sink: Sink) -> None:
    """The attack: 8-bit MAIL got 250, then 451 at DATA forever, failing its batch-mates too."""
    failures: list[str] = []

    def bad() -> None:
        for _ in range(20):
            replies = session(
                sink, [b"EHLO x\r\n", b"MAIL FROM:<\xff\xfe@x.test>\r\n", b"QUIT\r\n"]
            )
            if replies[1][:1] != b"5":
                failures.append(replies[1].decode("latin-1"))

    attacker = threading.Thread(target=bad)
    attacker.start()
    for n in range(30):
        with smtplib.SMTP(*sink.smtp_address) as client:
            client.sendmail("a@x.test", ["b@x.test"], make_raw(subject=f"good {n}"))
    attacker.join()
    assert failures == []
    assert sink.store.count() == 30


def test_a_batch_failure_fails_only_the_message_that_caused_it(tmp_path: Path) -> None:
    """Messages sharing one commit: one the store cannot take must not take the others down."""
    store = SQLiteStore(tmp_path / "m.db")
    ingestor = Ingestor(Mailbox(store)).start()
    good = Envelope("a@x.test", ("b@x.test",))
    poison = Envelope("a@x.test", ("\udcff@x.test",))  # what 8-bit bytes decode to (a Bcc)

    async def together() -> tuple[str | BaseException, ...]:
        return await asyncio.gather(
            ingestor.receive(make_raw(subject="one"), good),
            ingestor.receive(make_raw(subject="bad"), poison),
            ingestor.receive(make_raw(subject="two"), good),
            return_exceptions=True,
        )

    one, bad, two = asyncio.run(together())
    assert isinstance(bad, Exception)
    assert isinstance(one, str) and isinstance(two, str)
    assert {m.summary.subject for m in store.list().items} == {"one", "two"}
    big = make_raw(subject="big", body="x" * 400_000)
    outcomes = asyncio.run(_on_thread(ingestor, [(big, good), (big, poison), (big, good)]))
    assert [isinstance(o, str) for o in outcomes] == [True, False, True]
    ingestor.close()
    store.close()


async def _on_thread(
    ingestor: Ingestor, items: list[tuple[bytes, Envelope]]
) -> list[str | BaseException]:
    return list(
        await asyncio.gather(
            *(ingestor.receive(raw, envelope) for raw, envelope in items), return_exceptions=True
        )
    )


def test_rfc_5321_length_limits_are_enforced_at_the_command(sink: Sink) -> None:
    local_65 = "a" * 65
    domain_256 = ".".join(["d" * 63] * 4)  # 255 octets
    replies = session(
        sink,
        [
            b"EHLO x\r\n",
            f"MAIL FROM:<{local_65}@x.test>\r\n".encode(),
            f"MAIL FROM:<{'a' * 64}@x.test>\r\n".encode(),
            f"RCPT TO:<b@{domain_256}x>\r\n".encode(),
            f"RCPT TO:<{'a' * 64}@{'d' * 63}.{'d' * 63}.{'d' * 63}.{'d' * 50}>\r\n".encode(),
            f"RCPT TO:<b@{domain_256[:250]}>\r\n".encode(),
            b"QUIT\r\n",
        ],
    )
    assert codes(replies) == [b"250", b"501", b"250", b"501", b"501", b"250", b"221"]
    assert b"64 octets" in replies[1]
    assert b"256 octets" in replies[4]
