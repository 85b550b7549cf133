"""pytest entry point: the ``mailsink`` fixtures, their options and a failure report section.

Fixtures:

* ``mailsink_server`` (session): the sink of this test process - started on
  first use, on free ports (so each pytest-xdist worker has its own), or a
  remote sink when ``--mailsink-url`` is given.
* ``mailsink`` (function): a :class:`~mailsink.pytest_plugin.fixture.MailSink`
  that sees only the current test's mail and undoes its fault rules after it.

Everything heavy is imported inside the fixtures, so a session that never
asks for mail pays nothing for the plugin beyond reading its options.
"""

from __future__ import annotations

import os
from collections.abc import Generator, Iterator
from typing import TYPE_CHECKING, Any

import pytest

from mailsink.pytest_plugin.options import PluginOptions, add_options, parse_options

if TYPE_CHECKING:
    from mailsink.pytest_plugin.fixture import MailSink, Server

_OPTIONS = pytest.StashKey[PluginOptions]()


def pytest_addoption(parser: pytest.Parser) -> None:
    """Register the ``--mailsink-*`` flags and ``mailsink_*`` ini keys."""
    add_options(parser)


def pytest_configure(config: pytest.Config) -> None:
    """Read the options once, failing the run early on a bad value."""
    try:
        config.stash[_OPTIONS] = parse_options(config, os.environ)
    except ValueError as error:
        raise pytest.UsageError(str(error)) from None


@pytest.fixture(scope="session")
def mailsink_server(
    pytestconfig: pytest.Config, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    """Start this process's sink (or connect to the remote one) for the whole session."""
    options = pytestconfig.stash[_OPTIONS]
    server: Server
    if options.url:
        from mailsink.pytest_plugin.remote import RemoteServer

        server = RemoteServer(options)
    else:
        from mailsink.pytest_plugin.local import LocalServer

        # xdist gives worker sessions a workerinput; the environment variable would also
        # be inherited by a nested pytest run inside a worker.
        worker = str(getattr(pytestconfig, "workerinput", {}).get("workerid", ""))
        server = LocalServer(options, lambda: tmp_path_factory.mktemp("mailsink-tls"), worker)
    yield server
    server.stop()


@pytest.fixture
def mailsink(mailsink_server: Server, pytestconfig: pytest.Config) -> Iterator[MailSink]:
    """Return this test's view of the sink: host, port, messages, waits and assertions."""
    from mailsink.pytest_plugin.fixture import MailSink

    options = pytestconfig.stash[_OPTIONS]
    credentials = options.auth_users[0] if options.auth_users and not options.url else None
    sink = MailSink(mailsink_server, mailsink_server.capture(), options.timeout, credentials)
    yield sink
    sink.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Add a "captured mail" section to the report of a failed test that used the fixture."""
    report = yield
    funcargs: dict[str, Any] = getattr(item, "funcargs", {})
    sink = funcargs.get("mailsink")
    explained = call.excinfo is not None and "this test captured" in str(call.excinfo.value)
    if report.failed and sink is not None and call.when == "call" and not explained:
        from mailsink.pytest_plugin.matching import listing_line

        try:
            lines = [listing_line(i, m) for i, m in enumerate(sink.messages, 1)]
        except Exception as error:  # noqa: BLE001 - never hide the real failure
            lines = [f"  (could not list the captured mail: {error})"]
        report.sections.append(("Captured mail (mailsink)", "\n".join(lines) or "  (none)"))
    return report
