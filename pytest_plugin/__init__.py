"""The pytest plugin of mailsink (installed as ``mailsink.pytest_plugin``).

Import the types for annotations from here::

    from mailsink.pytest_plugin import MailSink, Message

    def test_welcome(mailsink: MailSink) -> None: ...

They are imported on first use, so loading the plugin stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mailsink.lazy import lazy_getattr

if TYPE_CHECKING:
    from mailsink.pytest_plugin.fixture import MailSink
    from mailsink.pytest_plugin.message import Attachment, Headers, Message

__all__ = ["Attachment", "Headers", "MailSink", "Message"]

_LAZY = {
    "Attachment": "mailsink.pytest_plugin.message",
    "Headers": "mailsink.pytest_plugin.message",
    "MailSink": "mailsink.pytest_plugin.fixture",
    "Message": "mailsink.pytest_plugin.message",
}


__getattr__ = lazy_getattr(__name__, _LAZY)
