"""The bulk DATA reader ends data exactly where aiosmtpd's line reader does."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailsink.smtp_protocol import read_data


def reference(stream: bytes) -> tuple[bytes, bytes] | None:
    """Split a stream after 354 the way aiosmtpd does: (unstuffed content, rest)."""
    pos = 0
    lines = []
    while True:
        end = stream.find(b"\r\n", pos)
        if end < 0:
            return None
        line = stream[pos : end + 2]
        pos = end + 2
        if line == b".\r\n":
            break
        lines.append(line[1:] if line.startswith(b".") else line)
    return b"".join(lines), stream[pos:]


def run_reader(
    stream: bytes, limit: int = 64, max_size: int | None = None
) -> tuple[bytes, bytes, bool]:
    """Feed a stream to read_data and return (content, what is left, too_big)."""

    async def go() -> tuple[bytes, bytes, bool]:
        reader = asyncio.StreamReader(limit=limit)
        reader.feed_data(stream)
        reader.feed_eof()
        block = await read_data(reader, max_size)
        return block.content, await reader.read(), block.too_big

    return asyncio.run(go())


@pytest.mark.parametrize(
    "stream",
    [
        b".\r\n",
        b".\r\nQUIT\r\n",
        b"\r\n.\r\n",
        b"x\r\n.\r\n",
        b"ab\r\n.\r\n",
        b"abc\r\n.\r\nMAIL FROM:<a@b>\r\n",
        b"..\r\n.\r\n",
        b".x\r\n..y\r\n.\r\n",
        b"a\n.\nb\r\n.\r\n",  # bare LF dot LF does not end the data (smuggling)
        b"a\r.\rb\r\n.\r\n",
        b"a\n.\r\nb\r\n.\r\n",
        b"a\r\n.\nb\r\n.\r\n",
        b"\r\n\r\n.\r\n",
        b"x" * 300 + b"\r\n.\r\n",
        b"\r\n." * 100 + b"\r\n.\r\n",
    ],
)
def test_matches_aiosmtpd_on_edge_cases(stream: bytes) -> None:
    expected = reference(stream)
    assert expected is not None
    content, rest, too_big = run_reader(stream)
    assert (content, rest, too_big) == (*expected, False)


@settings(max_examples=400, deadline=None)
@given(
    st.lists(st.sampled_from([b"\r\n", b".", b"\r", b"\n", b"a", b"..", b"\r\n.\r\n", b"x" * 70])),
    st.integers(min_value=5, max_value=80),
)
def test_matches_aiosmtpd_on_any_stream(pieces: list[bytes], limit: int) -> None:
    stream = b"".join(pieces) + b"\r\n.\r\nNEXT\r\n"
    expected = reference(stream)
    assert expected is not None
    content, rest, _ = run_reader(stream, limit=limit)
    assert (content, rest) == expected


def test_too_big_is_reported_and_the_stream_stays_in_sync() -> None:
    stream = b"y" * 5000 + b"\r\n.\r\nQUIT\r\n"
    content, rest, too_big = run_reader(stream, limit=100, max_size=1000)
    assert (content, rest, too_big) == (b"", b"QUIT\r\n", True)


def test_exactly_max_size_is_accepted() -> None:
    body = b"z" * 998 + b"\r\n"
    content, _rest, too_big = run_reader(body + b".\r\n", limit=100, max_size=1000)
    assert (content, too_big) == (body, False)
    _content, _rest, too_big = run_reader(b"z" + body + b".\r\n", limit=100, max_size=1000)
    assert too_big


@pytest.mark.parametrize(
    "arg",
    [
        "<a@b.test>",
        "<a@b.test> SIZE=100 BODY=8BITMIME",
        " <first.last+tag@sub.example.test>",
        "<a@[127.0.0.1]>",
        "<>",
        '<"quoted local"@x.test>',
        "<@route:a@b.test>",
        "a@b.test",
        "<a..b@x.test>",
        "<a@b.test",
        "<.a@b.test>",
        "<a@-b.test>",
        "<jörg@exämple.test>",
        "<a@b.test>\textra",
        "<a@b.test> (comment) SIZE=1",
        "<a@b.test>SIZE=1",
    ],
)
def test_address_parsing_matches_aiosmtpd(arg: str) -> None:
    from aiosmtpd.smtp import SMTP

    from mailsink.smtp_protocol import FastSMTP

    class Handler:
        pass

    async def both() -> tuple[object, object]:
        fast = FastSMTP(Handler())
        original = SMTP(Handler(), hostname="x")
        return fast._getaddr(arg), original._getaddr(arg)

    fast, original = asyncio.run(both())
    assert fast == original
