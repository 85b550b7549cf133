"""Addresses from headers are parsed strictly: CVE-2023-27043 (issue 11.11)."""

from __future__ import annotations

import pytest

from helpers import make_raw
from mailsink.message import Envelope, parse_addresses, summarize


@pytest.mark.parametrize(
    "header",
    [
        "alice@example.org)<bob@example.org>",  # read as alice (and bob) before the fix
        "alice@example.org(<bob@example.org>",
        "a@b.example [x@y.example]",
        '"unclosed <a@b.example>',
    ],
)
def test_an_ambiguous_from_header_names_no_sender(header: str) -> None:
    summary = summarize(make_raw(sender=header), Envelope("env@x.test", ("b@x.test",)))
    assert summary.from_ is None


@pytest.mark.parametrize(
    ("header", "addresses"),
    [
        ('"alice@example.org" <bob@example.org>', ["bob@example.org"]),
        ('"Alice, Inc" <a@b.example>, bob@d.example', ["a@b.example", "bob@d.example"]),
        ("Bob (work, mostly) <bob@d.example>", ["bob@d.example"]),
        ("Team: a@b.example, c@d.example;", ["a@b.example", "c@d.example"]),
        ("a@[127.0.0.1]", ["a@[127.0.0.1]"]),
        ('"say \\"hi\\"" <a@b.example>', ["a@b.example"]),
        ("undisclosed-recipients:;", []),
    ],
)
def test_well_formed_headers_still_parse(header: str, addresses: list[str]) -> None:
    assert [a.address for a in parse_addresses([header])] == addresses
