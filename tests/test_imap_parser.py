"""The IMAP command parser: typed arguments, and nothing but CommandError for bad input."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mailsink.imap.fetch import parse_items
from mailsink.imap.parser import Atom, CommandError, parse_command, parse_sequence_set
from mailsink.imap.search import compile_search


def test_a_command_with_strings_lists_literals_and_sections() -> None:
    command = parse_command(
        b'a1 UID FETCH 1:3,7:* (FLAGS BODY.PEEK[HEADER.FIELDS (FROM "To")]<0.100>) {3} "q\\"x"',
        [b"lit"],
    )
    assert (command.tag, command.name) == ("a1", "UID FETCH")
    assert command.args == [
        Atom("1:3,7:*"),
        [Atom("FLAGS"), Atom('BODY.PEEK[HEADER.FIELDS (FROM "To")]<0.100>')],
        b"lit",
        b'q"x',
    ]
    assert parse_sequence_set(command.args[0]) == [(1, 3), (7, None)]
    items = parse_items([command.args[1]])
    assert items[1].fields == ("from", "to") and items[1].partial == (0, 100)
    assert items[1].label == "BODY[HEADER.FIELDS (FROM TO)]<0>"


@pytest.mark.parametrize(
    "text",
    [
        b"",
        b"+ x",
        b"a",
        b"a (",
        b"a X (",
        b"a X )",
        b'a X "open',
        b"a X {3}",
        b"a X \xff",
        b"a X \\",
    ],
)
def test_malformed_commands_raise_command_error(text: bytes) -> None:
    with pytest.raises(CommandError):
        parse_command(text, [])


@given(st.binary(max_size=200), st.lists(st.binary(max_size=20), max_size=3))
def test_any_bytes_parse_or_raise_command_error(text: bytes, literals: list[bytes]) -> None:
    try:
        command = parse_command(text, literals)
    except CommandError:
        return
    for args in (command.args, command.args[1:]):
        with contextlib.suppress(CommandError):
            parse_items(args[-1:] or [Atom("X")])
        with contextlib.suppress(CommandError):
            compile_search(args, 10, 10)
