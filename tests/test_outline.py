"""The boundary scan at ingest gives the summary the feed parser would have given."""

from __future__ import annotations

import base64
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailsink.message import Envelope, summarize, summary_of
from mailsink.mime import parse_bytes
from mailsink.outline import parse_outline

ENVELOPE = Envelope("sender@x.test", ("to@x.test", "hidden@x.test"))


def feedparser_summary(raw: bytes) -> object:
    """Return the summary as it was before the scan: from the feed parser's tree."""
    return summary_of(parse_bytes(raw), raw, ENVELOPE)


def newsletter(seed: int = 1) -> bytes:
    """Return a text+HTML alternative with a base64 attachment of random bytes."""
    rng = random.Random(seed)
    attachment = base64.encodebytes(rng.randbytes(20_000)).replace(b"\n", b"\r\n")
    return (
        b"From: News <news@x.test>\r\nTo: reader@x.test, other+promo@x.test\r\n"
        b"Subject: =?utf-8?q?Caf=C3=A9?= weekly\r\nX-Tags: a, b\r\n"
        b'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="mixed"\r\n\r\n'
        b"This is the preamble.\r\n"
        b'--mixed\r\nContent-Type: multipart/alternative; boundary="alt"\r\n\r\n'
        b"--alt\r\nContent-Type: text/plain; charset=utf-8\r\n"
        b"Content-Transfer-Encoding: quoted-printable\r\n\r\nCaf=C3=A9 news\r\n--not-it\r\n"
        b"--alt \t\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>Hello <b>there</b></p>\r\n"
        b"--alt--\r\nalt epilogue\r\n"
        b"--mixed\r\nContent-Type: application/pdf; name=r.pdf\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\n" + attachment + b"--mixed\r\n"
        b"Content-Type: image/png\r\nContent-ID: <logo>\r\n\r\nPNG\r\n--mixed--\r\nepilogue\r\n"
    )


CASES = {
    "newsletter": newsletter(),
    "bare LF": newsletter().replace(b"\r\n", b"\n"),
    "close boundary missing": newsletter().replace(b"--mixed--", b"--mixed-x"),
    "bare CR in a body": newsletter().replace(b"Hello", b"He\rllo").replace(b"news\r", b"n\rews\r"),
    "bare CR in a header": newsletter().replace(b"X-Tags: a, b", b"X-Tags: a,\r b"),
    "bare CR in a part's header": newsletter().replace(
        b"Content-ID: <logo>", b"Content-ID:\r<logo>"
    ),
    "bare CR before a boundary": newsletter().replace(b"PNG\r\n--mixed--", b"PNG\r--mixed--"),
    "bare CR after a boundary": newsletter().replace(b"--alt \t\r\n", b"--alt \t\rx\n"),
    "bare CR ending a part": newsletter().replace(b"</p>\r\n--alt--", b"</p>\r\r\n--alt--"),
    "boundary never appears": (
        b'Content-Type: multipart/mixed; boundary="zz"\r\n\r\njust text\r\n'
    ),
    "no boundary parameter": b"Content-Type: multipart/mixed\r\n\r\n--x\r\nhi\r\n--x--\r\n",
    "part without headers": (
        b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\n\r\nbody\r\n--b--\r\n'
    ),
    "message/rfc822 part": (
        b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\n'
        b"Content-Type: message/rfc822\r\n\r\nSubject: inner\r\n\r\ninner body\r\n--b--\r\n"
    ),
    "digest": (
        b'Content-Type: multipart/digest; boundary="b"\r\n\r\n--b\r\n\r\n'
        b"Subject: one\r\n\r\nfirst\r\n--b--\r\n"
    ),
    "nested boundary overlapping its parent": (
        b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\n'
        b'Content-Type: multipart/alternative; boundary="b2"\r\n\r\n--b2\r\n'
        b"Content-Type: text/plain\r\n\r\ninner\r\n--b2--\r\n--b--\r\n"
    ),
    "close at the very end without a line break": (
        b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\n'
        b"Content-Type: text/plain\r\n\r\nlast\r\n--b--"
    ),
    "boundary text followed by more on its line": (
        b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\n'
        b"Content-Type: text/plain\r\n\r\n--b x\r\n--bb\r\n--b--x\r\nend\r\n--b--\r\n"
    ),
    "empty part body": (
        b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\n'
        b"Content-Type: text/plain\r\n\r\n\r\n--b--\r\n"
    ),
    "single part": b"Subject: plain\r\n\r\nhello\r\n",
    "a part's headers end in LF LF before a CRLF": (
        b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n"
        b"Content-Type: text/plain\n\n\r\ntext\r\n--b--\r\n"
    ),
}


@pytest.mark.parametrize("name", list(CASES))
def test_summary_is_the_feed_parsers(name: str) -> None:
    raw = CASES[name]
    assert summarize(raw, ENVELOPE) == feedparser_summary(raw)


@pytest.mark.parametrize("name", ["newsletter", "bare CR in a body", "bare CR ending a part"])
def test_a_newsletter_is_split_without_the_feed_parser(name: str) -> None:
    tree = parse_outline(CASES[name])
    assert tree is not None
    leaves = [p.get_content_type() for p in tree.walk() if not p.is_multipart()]
    assert leaves == ["text/plain", "text/html", "application/pdf", "image/png"]


@pytest.mark.parametrize(
    "name",
    [
        "close boundary missing",
        "bare CR in a header",
        "bare CR in a part's header",
        "bare CR before a boundary",
        "bare CR after a boundary",
        "part without headers",
        "digest",
    ],
)
def test_unusual_structures_go_to_the_feed_parser(name: str) -> None:
    assert parse_outline(CASES[name]) is None


LINES = st.sampled_from(
    [
        *(b"text", b"", b"--b", b"--b--", b"--c", b"--c--", b"--b ", b"--bx", b"  --b", b"=?x?="),
        *(b"te\rxt", b"\r", b"--b\r", b"x\r--b", b"\r--c--", b"--b \rx"),  # bare CRs
    ]
)


@st.composite
def entities(draw: st.DrawFn, depth: int = 0) -> bytes:
    """Draw a MIME entity: a leaf of tricky lines, or a multipart of entities."""
    newline = draw(st.sampled_from([b"\r\n", b"\n"]))
    if depth < 2 and draw(st.booleans()):
        boundary = draw(st.sampled_from([b"b", b"c", b"b2"]))
        parts = [draw(entities(depth + 1)) for _ in range(draw(st.integers(0, 3)))]
        body = b"".join(b"--" + boundary + newline + p + newline for p in parts)
        if draw(st.booleans()):
            body += b"--" + boundary + b"--" + newline
        head = b"Content-Type: multipart/mixed; boundary=" + boundary + newline
        return head + newline + draw(st.sampled_from([b"", b"pre" + newline])) + body
    ctype = draw(st.sampled_from([b"text/plain", b"text/html", b"application/pdf"]))
    lines = draw(st.lists(LINES, max_size=5))
    return b"Content-Type: " + ctype + newline + newline + newline.join(lines)


@settings(max_examples=300, deadline=None)
@given(entities())
def test_generated_structures_summarize_as_the_feed_parser_does(raw: bytes) -> None:
    assert summarize(raw, ENVELOPE) == feedparser_summary(raw)


@pytest.mark.parametrize("name", ["newsletter", "bare LF", "empty part body", "single part"])
def test_each_leaf_read_later_has_the_feed_parsers_payload(name: str) -> None:
    """Leaves keep a byte range until read; what they give then is the feed parser's."""
    raw = CASES[name]
    outline, full = parse_outline(raw), parse_bytes(raw)
    assert outline is not None and full is not None
    ours = [p for p in outline.walk() if not p.is_multipart()]
    theirs = [p for p in full.walk() if not p.is_multipart()]
    assert [p.get_payload(decode=True) for p in ours] == [
        p.get_payload(decode=True) for p in theirs
    ]
    assert [p.get_payload() for p in ours] == [p.get_payload() for p in theirs]


HEADER_LINES = st.sampled_from(
    [
        *(b"Subject: hi", b"Subject:", b"Subject:  \t spaced ", b"X-A:b:c", b"To: a@x, b@x"),
        *(b"  folded", b"\tfolded", b" ", b"From x", b"From: x", b"From  x", b"no colon"),
        *(b":no name", b"X H: space in name", b"X-\x7f: del", b"X-8: caf\xc3\xa9", b"X-N: \x00"),
        *(b"X-Empty:\t", b"Content-Type: text/plain; charset=utf-8", b"X:\x0b\x0c\x1c v"),
    ]
)


@settings(max_examples=500, deadline=None)
@given(st.lists(HEADER_LINES, min_size=1, max_size=6), st.sampled_from([b"\r\n", b"\n"]))
def test_a_header_block_gives_the_feed_parsers_headers(lines: list[bytes], newline: bytes) -> None:
    """The plain-field parse of a header block agrees with the feed parser, or declines."""
    from mailsink.outline import _parser, _plain_header_block

    block = newline.join(lines) + newline
    ours = _plain_header_block(block)
    theirs = _parser.parsebytes(block, headersonly=True)
    if ours is None:
        return
    assert not theirs.defects
    assert ours.items() == theirs.items() and vars(ours) == vars(theirs)


def test_the_plain_header_parse_takes_the_usual_blocks() -> None:
    """The usual header blocks do take the plain parse (so the property test above compares)."""
    from mailsink.outline import _plain_header_block

    assert _plain_header_block(b"Subject: hi\r\nTo: a@x,\r\n b@x\r\n") is not None
    assert _plain_header_block(b"From x\r\nSubject: hi\r\n") is None
    assert _plain_header_block(b" folded first\r\nSubject: hi\r\n") is None
