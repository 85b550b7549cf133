"""Small MIME bombs: where to parse is decided by cost, and the parse is bounded (issue 11.3)."""

from __future__ import annotations

import smtplib
import threading
import time

from helpers import delivery_times, make_raw, p95
from mailsink.headers import header_end
from mailsink.ingest import INLINE_MAX, INLINE_MAX_COST, Ingestor, parse_cost
from mailsink.mailbox import Mailbox
from mailsink.message import Envelope, summarize
from mailsink.mime import MAX_PARAMS, parse_message
from mailsink.outline import parse_outline
from mailsink.server import Sink
from mailsink.store import MemoryStore

ENVELOPE = Envelope("a@x.test", ("b@x.test",))
PARAM_BOMB = (
    "From: a@x.test\r\nSubject: bomb\r\nContent-Type: text/plain"
    + "".join(f';p{i}="v"' for i in range(24_000))
    + "\r\n\r\nbody\r\n"
).encode()
"""229 KB: one Content-Type of 24,000 parameters (benchmarks/under_attack.py sends it too)."""
HEADER_BOMB = (
    b"From: a@x.test\r\nSubject: headers\r\n"
    + b"".join(b"X-H%d: v\r\n" % i for i in range(20_000))
    + b"\r\nbody\r\n"
)


def test_a_content_type_of_24000_parameters_parses_in_milliseconds() -> None:
    assert len(PARAM_BOMB) < INLINE_MAX  # under the size threshold: it used to parse on the loop
    began = time.perf_counter()
    summary = summarize(PARAM_BOMB, ENVELOPE)
    parsed = parse_message(PARAM_BOMB)
    took = time.perf_counter() - began
    assert took < 0.5, f"{took:.2f} s (it was 4 s)"
    assert summary.subject == "bomb" and summary.text.strip() == "body"
    assert parsed.text.strip() == "body"


def test_the_parse_reads_a_bounded_number_of_parameters() -> None:
    params = "".join(f"; p{i}=v{i}" for i in range(MAX_PARAMS + 50))
    raw = f"Content-Type: text/plain; charset=utf-8{params}\r\n\r\nhallo\r\n".encode()
    parsed = parse_message(raw)
    assert parsed.parts["1"].charset == "utf-8"
    assert parsed.text.strip() == "hallo"


def test_headers_past_the_bound_are_not_parsed_but_the_raw_keeps_them() -> None:
    raw = HEADER_BOMB.replace(b"\r\n\r\nbody", b"\r\nSubject: late\r\n\r\nbody")
    summary = summarize(raw, ENVELOPE)
    assert summary.subject == "headers"
    assert summary.text.strip() == "body"


def test_where_a_message_is_parsed_is_decided_by_cost_not_size() -> None:
    ingestor = Ingestor(Mailbox(MemoryStore()))
    plain = make_raw(body="word " * 40_000)  # 200 KB of ordinary text
    assert ingestor.summary_on_loop(plain, ENVELOPE) is not None
    assert ingestor.summary_on_loop(HEADER_BOMB, ENVELOPE) is None
    parts = b"Content-Type: multipart/mixed; boundary=b\r\n\r\n" + (
        b"--b\r\nContent-Type: text/plain\r\n\r\nx\r\n" * 2_000
    )
    assert len(parts) < INLINE_MAX and ingestor.summary_on_loop(parts, ENVELOPE) is None
    assert parse_cost(make_raw()) < 100


def test_good_mail_keeps_flowing_while_two_clients_send_mime_bombs(sink: Sink) -> None:
    """The attack: two looping attackers pushed 3 ms deliveries to 3.4-9.1 s."""
    stop = threading.Event()

    def attack(raw: bytes) -> None:
        while not stop.is_set():
            with smtplib.SMTP(*sink.smtp_address, timeout=60) as client:
                client.sendmail("evil@x.test", ["v@x.test"], raw)

    attackers = [threading.Thread(target=attack, args=(r,)) for r in (PARAM_BOMB, HEADER_BOMB)]
    for thread in attackers:
        thread.start()
    try:
        time.sleep(0.3)
        times = delivery_times(sink.smtp_address, 3)
    finally:
        stop.set()
        for thread in attackers:
            thread.join()
    assert p95(times) < 1.0, f"p95 {p95(times):.2f} s"


def test_the_estimate_counts_boundary_lines_exactly_up_to_the_limit_and_stops_past_it() -> None:
    head = b"Subject: s\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n"
    body = b"--b\r\n\r\nx\r\n--b\r\n\r\ny\r\n--b--\r\n"
    raw = head + body
    end = header_end(raw)
    assert parse_cost(raw) == raw.count(b"\n") + 5 * raw.count(b"\n", 0, end) + 40 * 3
    assert parse_cost(raw + b"--b\r\n") == parse_cost(raw) + 1 + 40  # one more boundary line
    bomb = head + b"--b\r\n" * 60_000
    assert parse_cost(bomb) > 10_000 and parse_cost(bomb, limit=10**9) > 40 * 59_000


def test_an_attachment_of_short_lines_is_parsed_on_the_loop_its_lines_cost_nothing() -> None:
    """The outline counts its own cost: a body's lines are jumped over, never walked."""
    attachment = b"QUJD\r\n" * 30_000  # 180 KB of 4-character base64 lines
    raw = (
        b"Subject: s\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n"
        b"--b\r\nContent-Type: text/plain\r\n\r\nhallo\r\n"
        b"--b\r\nContent-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        + attachment
        + b"--b--\r\n"
    )
    assert len(raw) < INLINE_MAX and parse_cost(raw) > INLINE_MAX_COST  # the old estimate: a thread
    summary = Ingestor(Mailbox(MemoryStore())).summary_on_loop(raw, ENVELOPE)
    assert summary is not None and summary.attachments == 1 and summary.text.strip() == "hallo"


def test_the_outline_gives_up_once_its_headers_and_parts_pass_the_cost_it_was_given() -> None:
    parts = (
        b"Content-Type: multipart/mixed; boundary=b\r\n\r\n"
        + (b"--b\r\nContent-Type: text/plain\r\n\r\nx\r\n" * 300)
        + b"--b--\r\n"
    )
    assert parse_outline(parts) is not None  # 301 entities, under MAX_PARTS
    assert parse_outline(parts, max_cost=301 * 60) is not None
    assert parse_outline(parts, max_cost=300 * 40) is None  # 40 a part, 6 a header line
    assert parse_outline(HEADER_BOMB, max_cost=INLINE_MAX_COST) is None
    assert parse_outline(HEADER_BOMB) is not None
