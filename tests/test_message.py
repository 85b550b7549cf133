"""The message model: summaries at ingest, the full parse on demand, hostile input."""

from __future__ import annotations

import email.utils
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailsink.headers import decode_header_value
from mailsink.message import (
    Address,
    Envelope,
    has_long_lines,
    parse_addresses,
    strict_addresses,
    summarize,
)
from mailsink.mime import parse_message

ENVELOPE = Envelope("sender@x.test", ("to@x.test", "hidden@x.test"))

MULTIPART = (
    b"From: =?utf-8?b?SsO2cmc=?= <jorg@x.test>\r\n"
    b"To: Ann <ann@x.test>, bob@x.test\r\n"
    b"Cc: carol@x.test\r\n"
    b"Reply-To: replies@x.test\r\n"
    b"Subject: =?utf-8?q?Caf=C3=A9_menu?=\r\n"
    b"Date: Tue, 01 Oct 2024 10:00:00 +0000\r\n"
    b"Message-ID: <abc@x.test>\r\n"
    b"MIME-Version: 1.0\r\n"
    b'Content-Type: multipart/mixed; boundary="outer"\r\n\r\n'
    b"--outer\r\n"
    b'Content-Type: multipart/alternative; boundary="alt"\r\n\r\n'
    b"--alt\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nPlain caf\xc3\xa9 text\r\n"
    b"--alt\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>Html <b>caf\xc3\xa9</b></p>"
    b'<img src="cid:logo@x">\r\n'
    b"--alt--\r\n"
    b"--outer\r\nContent-Type: image/png\r\nContent-ID: <logo@x>\r\n"
    b"Content-Disposition: inline\r\nContent-Transfer-Encoding: base64\r\n\r\niVBORw0KGgo=\r\n"
    b'--outer\r\nContent-Type: application/pdf; name="r\xc3\xa9sum\xc3\xa9.pdf"\r\n'
    b'Content-Disposition: attachment; filename="=?utf-8?q?r=C3=A9sum=C3=A9.pdf?="\r\n'
    b"Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQ=\r\n"
    b"--outer--\r\n"
)


def test_summary_reads_addresses_subject_and_date() -> None:
    s = summarize(MULTIPART, ENVELOPE)
    assert s.subject == "Café menu"
    assert s.from_ is not None
    assert (s.from_.name, s.from_.address) == ("Jörg", "jorg@x.test")
    assert [str(a) for a in s.to] == ["Ann <ann@x.test>", "bob@x.test"]
    assert [a.address for a in s.cc] == ["carol@x.test"]
    assert [a.address for a in s.reply_to] == ["replies@x.test"]
    assert s.message_id == "abc@x.test"
    assert s.date == 1727776800.0
    assert s.size == len(MULTIPART)


def test_envelope_only_recipients_are_bcc() -> None:
    s = summarize(MULTIPART, Envelope("s@x.test", ("ann@x.test", "HIDDEN@x.test")))
    assert [a.address for a in s.bcc] == ["HIDDEN@x.test"]


def test_summary_counts_attachments_and_inline_parts_and_makes_a_snippet() -> None:
    s = summarize(MULTIPART, ENVELOPE)
    assert (s.attachments, s.inline) == (1, 1)
    assert s.snippet == "Plain café text"


def test_full_parse_gives_bodies_parts_and_tree() -> None:
    parsed = parse_message(MULTIPART)
    assert parsed.text.strip() == "Plain café text"
    assert "<b>café</b>" in parsed.html
    assert [p.filename for p in parsed.attachments] == ["résumé.pdf"]
    assert parsed.attachments[0].payload.startswith(b"%PDF")
    assert parsed.inline[0].content_id == "logo@x"
    assert set(parsed.parts) == {"1.1", "1.2", "2", "3"}
    assert [c.part_id for c in parsed.tree.children] == ["1", "2", "3"]
    assert parsed.header("subject") == "Café menu"


def test_html_only_message_gets_a_text_snippet() -> None:
    raw = b"Content-Type: text/html\r\n\r\n<style>p{}</style><p>Hello &amp; welcome</p>\r\n"
    assert summarize(raw, ENVELOPE).snippet == "Hello & welcome"


def test_no_headers_at_all() -> None:
    s = summarize(b"just a body line\r\n", ENVELOPE)
    assert s.subject == ""
    assert s.size == 18


def test_invalid_utf8_and_nul_bytes_do_not_raise() -> None:
    raw = b"Subject: bad \xff\xfe \x00 bytes\r\nFrom: \xc3(\r\n\r\nbody \xff\x00\r\n"
    s = summarize(raw, ENVELOPE)
    assert "bad" in s.subject
    parsed = parse_message(raw)
    assert "body" in parsed.text


def test_unknown_charset_falls_back() -> None:
    raw = b"Content-Type: text/plain; charset=x-nonsense\r\n\r\nhello\r\n"
    assert parse_message(raw).text.strip() == "hello"


def test_broken_base64_and_missing_boundary_are_shown_as_text() -> None:
    raw = b'Content-Type: multipart/mixed; boundary="never"\r\n\r\nno boundary ever appears\r\n'
    assert summarize(raw, ENVELOPE).snippet == "no boundary ever appears"
    parsed = parse_message(raw)
    assert parsed.text.strip() == "no boundary ever appears"
    assert parsed.attachments == []
    assert "StartBoundaryNotFoundDefect" in parsed.defects
    raw = b"Content-Transfer-Encoding: base64\r\n\r\n!!!not base64***\r\n"
    assert summarize(raw, ENVELOPE).snippet == "!!!not base64***"
    assert parse_message(raw).text.strip() == "!!!not base64***"


def test_deep_multipart_nesting_is_bounded() -> None:
    depth = 3000
    head = b"".join(
        b'Content-Type: multipart/mixed; boundary="b%d"\r\n\r\n--b%d\r\n' % (i, i)
        for i in range(depth)
    )
    raw = head + b"Content-Type: text/plain\r\n\r\ndeep\r\n"
    started = time.thread_time()  # CPU, not wall: a loaded machine must not fail it
    summarize(raw, ENVELOPE)
    parse_message(raw)
    assert time.thread_time() - started < 10


def test_huge_pathological_headers_stay_fast() -> None:
    # python/cpython#136063: policy.default is quadratic on such headers; we bound them.
    raw = (
        b"To: " + b"(" * 200_000 + b"\r\nSubject: " + b"=?utf-8?q?a?= " * 50_000 + b"\r\n\r\nx\r\n"
    )
    started = time.thread_time()  # CPU, not wall: a loaded machine must not fail it
    s = summarize(raw, ENVELOPE)
    parse_message(raw)
    assert time.thread_time() - started < 5
    assert s.size == len(raw)


def test_many_addresses_are_capped() -> None:
    to = ", ".join(f"u{i}@x.test" for i in range(5000)).encode()
    s = summarize(b"To: " + to + b"\r\n\r\nx\r\n", ENVELOPE)
    assert len(s.to) == 1000


def test_utf8_addresses_in_headers_are_read_as_utf8() -> None:
    raw = "From: Jörg <jörg@exämple.test>\r\nTo: zoë@exämple.test\r\n\r\nhi\r\n".encode()
    s = summarize(raw, ENVELOPE)
    assert s.from_ == Address("Jörg", "jörg@exämple.test")
    assert s.to == (Address("", "zoë@exämple.test"),)


@pytest.mark.parametrize(
    "value",
    [
        "a@b.test",
        "Ann <ann@x.test>",
        " Ann  Lee <ann@x.test> , bob@y.test,carol@z.test ",
        "=?utf-8?q?Z=C3=B6e?= <zoe@x.test>",
        "<bare@x.test>",
        "first.last+tag@sub.example.test, Big Co. <news@big.test>",
        '"Doe, John" <jd@x.test>',
        "ann@x.test (Ann)",
        "Group: a@b.test, c@d.test;",
        "not an address",
        "a@b@c",
        "<@route:a@b.test>",
        "Ann <ann@x.test> trailing",
        "",
    ],
)
def test_fast_address_parsing_agrees_with_the_standard_library(value: str) -> None:
    # The reference is the strict parse (CVE-2023-27043): "Ann <a> trailing" is no address.
    expected = [(n, a) for n, a in strict_addresses(value) if n or a]
    got = [(a.name, a.address) for a in parse_addresses([value])]
    assert got == [(decode_header_value(n), a) for n, a in expected]


_atoms = st.text(alphabet="abcXYZ019.-_+=?", min_size=1, max_size=6)
_spaces = st.sampled_from(["", " ", "  ", "\t"])


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.lists(_atoms, max_size=3),  # display-name words
            _atoms,
            _atoms,
            _spaces,
            st.booleans(),  # angle brackets without a name
        ),
        min_size=1,
        max_size=4,
    )
)
def test_fast_address_parsing_agrees_on_generated_lists(pieces: list) -> None:  # type: ignore[type-arg]
    parts = []
    for words, local, domain, space, angle in pieces:
        address = f"{local}@{domain}"
        if words:
            parts.append(f"{space}{' '.join(words)}{space}<{address}>{space}")
        else:
            parts.append(f"{space}<{address}>" if angle else f"{space}{address}{space}")
    value = ",".join(parts)
    expected = [(n, a) for n, a in email.utils.getaddresses([value]) if n or a]
    got = [(a.name, a.address) for a in parse_addresses([value])]
    assert got == [(decode_header_value(n), a) for n, a in expected]


def test_ids_increase_within_a_millisecond() -> None:
    from mailsink.message import new_id

    ids = [new_id() for _ in range(2000)]
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)
    assert all(len(i) == 22 for i in ids)


@settings(max_examples=400, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 1100), st.sampled_from([b"\n", b"\r\n", b""])), max_size=12)
)
def test_long_line_check_agrees_with_splitting_every_line(
    lines: list[tuple[int, bytes]],
) -> None:
    raw = b"".join(b"x" * length + end for length, end in lines)
    expected = max(map(len, raw.split(b"\n"))) > 998
    assert has_long_lines(raw) is expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b"x" * 998, False),
        (b"x" * 999, True),
        (b"a\n" + b"x" * 998 + b"\n" + b"y" * 998, False),
        (b"a\n" + b"x" * 998 + b"\r\n", True),  # the CR counts: 999 octets before the LF
        (b"\n" * 5000, False),
    ],
)
def test_long_line_check_edges(raw: bytes, expected: bool) -> None:
    assert has_long_lines(raw) is expected


@pytest.mark.parametrize(
    "raw",
    [
        b"Subject: mixed\n\n\r\nbody after a bare LF blank line",
        b"Subject: crlf\r\n\r\n\n\nbody",
        b"Subject: lf\n\nbody\r\n\r\n",
    ],
)
def test_the_header_block_ends_where_the_feed_parser_ends_it(raw: bytes) -> None:
    from email import message_from_bytes
    from email.policy import compat32

    from mailsink.headers import header_end

    expected = message_from_bytes(raw, policy=compat32).get_payload()
    end = header_end(raw)
    body = raw[end + (3 if raw[end + 1 : end + 2] == b"\r" else 2) :]
    assert body.decode() == expected
    assert summarize(raw, Envelope("a@x.test", ("b@x.test",))).text == expected
