"""sendmail's command line and header handling, as pure functions (no sink, no process)."""

from __future__ import annotations

import pytest

from mailsink.commands.sendmail import Options, UsageError, parse_options, prepare, split_headers
from mailsink.commands.smtp_target import parse_target


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["-t", "-i"], Options(from_headers=True, ignore_dots=True)),
        (["-ti"], Options(from_headers=True, ignore_dots=True)),  # getopt: letters combine
        (["-oi", "-odi", "-oem"], Options(ignore_dots=True)),
        (["-fme@x.test", "a@x.test"], Options(sender="me@x.test", recipients=["a@x.test"])),
        (["-f", "me@x.test", "-F", "Me Too"], Options(sender="me@x.test", full_name="Me Too")),
        (["-r", "<>"], Options(sender="<>")),
        (["-bs"], Options(mode="s")),
        (["-bp"], Options(mode="p")),
        (["-q"], Options(mode="q")),
        (["-S", "h:25"], Options(smtp="h:25")),
        (["--", "-odd@x.test"], Options(recipients=["-odd@x.test"])),
        (["-B", "8BITMIME", "-N", "never", "-R", "hdrs", "-V", "id", "-X", "/log"], Options()),
    ],
)
def test_the_options_real_callers_pass(argv: list[str], expected: Options) -> None:
    assert parse_options(argv) == expected


@pytest.mark.parametrize("argv", [["-Z"], ["-f"], ["-tZ"]])
def test_unknown_options_and_missing_values_are_usage_errors(argv: list[str]) -> None:
    with pytest.raises(UsageError):
        parse_options(argv)


def test_the_header_block_ends_at_the_first_line_that_is_no_header() -> None:
    fields, body = split_headers(b"From x Tue\nSubject: a\n folded\nnot a header\nrest\n")
    assert fields == [b"Subject: a\r\n folded\r\n"]
    assert body == b"not a header\r\nrest\r\n"


def test_resent_headers_win_over_the_originals_with_dash_t() -> None:
    data = b"To: old@x.test\nResent-To: new@x.test\nResent-Bcc: hid@x.test\n\nbody\n"
    submission = prepare(Options(from_headers=True, sender="s@x.test"), data)
    assert submission.recipients == ("new@x.test", "hid@x.test")
    assert b"Resent-Bcc" not in submission.data and b"To: old@x.test\r\n" in submission.data


def test_control_characters_in_a_recipient_are_refused() -> None:
    with pytest.raises(UsageError):
        prepare(Options(recipients=["a@x.test\r\nRCPT TO:<b@x.test>"]), b"Subject: x\n\ny\n")


def test_smtp_targets_take_encoded_credentials() -> None:
    target = parse_target("app:p%40ss@127.0.0.1:2525")
    assert (target.host, target.port, target.user, target.password) == (
        "127.0.0.1",
        2525,
        "app",
        "p@ss",
    )
    assert "p@ss" not in repr(target)
    with pytest.raises(ValueError):
        parse_target("nocolon@127.0.0.1:25")
