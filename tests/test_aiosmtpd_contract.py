"""The parts of aiosmtpd's private surface that ``FastSMTP`` relies on are still there.

``mailsink/smtp_protocol.py`` overrides and calls private methods of
``aiosmtpd.smtp.SMTP`` (checked against 1.4.6; pyproject pins ``<1.5``).  If an
aiosmtpd release renames or reshapes one, this fails with the name, instead of the
sink misbehaving at run time.
"""

from __future__ import annotations

import inspect
from importlib.metadata import version

import pytest
from aiosmtpd.smtp import SMTP

from mailsink.smtp_protocol import FastSMTP

# name -> (parameter names, is a coroutine function)
EXPECTED = {
    "_getaddr": (["self", "arg"], False),
    "smtp_DATA": (["self", "arg"], True),
    "_set_post_data_state": (["self"], False),
    "_call_handler_hook": (["self", "command", "args"], True),
    "check_helo_needed": (["self", "helo"], True),
    "check_auth_needed": (["self", "caller_method"], True),
    "push": (["self", "status"], True),
}


def test_aiosmtpd_is_a_release_fastsmtp_was_checked_against() -> None:
    parts = tuple(int(p) for p in version("aiosmtpd").split(".")[:3])
    assert (1, 4, 6) <= parts < (1, 5), f"aiosmtpd {version('aiosmtpd')}: re-check FastSMTP"


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_the_aiosmtpd_method_fastsmtp_uses_keeps_its_shape(name: str) -> None:
    params, is_async = EXPECTED[name]
    method = getattr(SMTP, name, None)
    assert method is not None, f"aiosmtpd.smtp.SMTP.{name} is gone; FastSMTP relies on it"
    assert list(inspect.signature(method).parameters) == params, (
        f"aiosmtpd.smtp.SMTP.{name}{inspect.signature(method)} changed shape"
    )
    assert inspect.iscoroutinefunction(method) is is_async


@pytest.mark.parametrize("name", ["_getaddr", "smtp_DATA"])
def test_fastsmtp_overrides_keep_aiosmtpd_signatures(name: str) -> None:
    ours = inspect.signature(getattr(FastSMTP, name)).parameters
    theirs = inspect.signature(getattr(SMTP, name)).parameters
    assert [(p.name, p.kind) for p in ours.values()] == [(p.name, p.kind) for p in theirs.values()]
    # aiosmtpd's @syntax marks the command's help text; ours must carry it too.
    assert getattr(getattr(FastSMTP, name), "__smtp_syntax__", None) == getattr(
        getattr(SMTP, name), "__smtp_syntax__", None
    )


def test_the_attributes_fastsmtp_reads_are_still_set_by_aiosmtpd() -> None:
    source = inspect.getsource(SMTP)
    for attribute in ("_reader", "envelope", "data_size_limit"):
        assert f"self.{attribute} =" in source or f"self.{attribute}:" in source, attribute
    for attribute in ("local_part_limit", "line_length_limit"):
        assert isinstance(getattr(SMTP, attribute, None), int), attribute


def test_aiosmtpd_still_finds_commands_through_dir() -> None:
    """``FastSMTP.__dir__`` narrows what ``SMTP.__init__`` scans; it must still scan ``dir``."""
    init = inspect.getsource(SMTP.__init__)
    assert "dir(self)" in init
    assert 'startswith("smtp_")' in init
