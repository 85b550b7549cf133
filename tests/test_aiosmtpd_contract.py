"""The parts of aiosmtpd's private surface that ``FastSMTP`` relies on are still there.

``mailsink/smtp_protocol.py`` and ``mailsink/smtp_setup.py`` override and call private
methods of ``aiosmtpd.smtp.SMTP`` (checked against 1.4.6; pyproject pins ``<1.5``).  If an
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
    # LeanSMTP (smtp_setup.py): its idle timer and its own __init__
    "_reset_timeout": (["self", "duration"], False),
    "_timeout_cb": (["self"], False),
    "_cb_client_connected": (["self", "reader", "writer"], False),
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


def _shape(value: object) -> object:
    """Return what an attribute is, comparable between two sessions (bound methods by function)."""
    if inspect.ismethod(value):
        return ("method", value.__func__)
    if isinstance(value, dict):
        return {key: _shape(item) for key, item in value.items()}
    if isinstance(value, tuple) and hasattr(value, "_fields"):  # aiosmtpd's _AuthMechAttr
        return tuple(_shape(item) for item in value)
    if isinstance(value, (str, int, float, bool, type(None))):
        return value
    return type(value)


@pytest.mark.parametrize("tls", [False, True], ids=["plain", "starttls"])
def test_lean_smtp_sets_what_aiosmtpd_init_sets(tls: bool) -> None:
    """``LeanSMTP`` replaces ``SMTP.__init__``: every attribute aiosmtpd sets, it sets alike."""
    import asyncio
    import ssl

    from mailsink.config import Settings
    from mailsink.ingest import Ingestor
    from mailsink.mailbox import Mailbox
    from mailsink.smtp import Authenticator, CatchAllHandler, SinkSMTP
    from mailsink.store.memory import MemoryStore

    settings = Settings(smtp_port=0, http_port=None, tls=False)
    handler = CatchAllHandler(Ingestor(Mailbox(MemoryStore())), settings)
    loop = asyncio.new_event_loop()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH) if tls else None
    arguments = {
        "data_size_limit": 1000,
        "enable_SMTPUTF8": True,
        "hostname": "sink.test",
        "ident": "mailsink ESMTP",
        "tls_context": context,
        "require_starttls": tls,
        "timeout": 30.0,
        "auth_require_tls": False,
        "authenticator": Authenticator(()),
        "loop": loop,
    }
    try:
        ours = SinkSMTP(handler, **arguments)  # type: ignore[arg-type]
        theirs = SinkSMTP.__new__(SinkSMTP)
        SMTP.__init__(theirs, handler, **arguments)  # type: ignore[arg-type]
        assert sorted(vars(ours)) == sorted(vars(theirs))
        for name in vars(theirs):
            assert _shape(getattr(ours, name)) == _shape(getattr(theirs, name)), name
    finally:
        loop.close()
