"""mailsink: a catch-all SMTP sink for development and tests.

The public API is what this module lists in ``__all__``; everything else may
change between releases.
"""

from __future__ import annotations

__version__ = "0.1.0"

import os
from typing import TYPE_CHECKING

from mailsink import source_tree
from mailsink.lazy import lazy_getattr

# From the source tree, web/ and pytest_plugin/ sit beside mailsink/ (see source_tree.py).
source_tree.install(os.path.dirname(os.path.abspath(__file__)))

if TYPE_CHECKING:
    from mailsink.config import Settings
    from mailsink.mailbox import Mailbox
    from mailsink.message import Address, Envelope, Summary
    from mailsink.mime import ParsedMessage, Part, parse_message
    from mailsink.search import Query, SearchError, parse_query
    from mailsink.server import Sink
    from mailsink.store import MemoryStore, MessageStore, SQLiteStore, StoredMessage, open_store

# Imported on first use (see mailsink/lazy.py).
_LAZY = {
    "Settings": "mailsink.config",
    "Mailbox": "mailsink.mailbox",
    "Address": "mailsink.message",
    "Envelope": "mailsink.message",
    "ParsedMessage": "mailsink.mime",
    "Part": "mailsink.mime",
    "Summary": "mailsink.message",
    "parse_message": "mailsink.mime",
    "Query": "mailsink.search",
    "SearchError": "mailsink.search",
    "parse_query": "mailsink.search",
    "Sink": "mailsink.server",
    "MemoryStore": "mailsink.store",
    "MessageStore": "mailsink.store",
    "SQLiteStore": "mailsink.store",
    "StoredMessage": "mailsink.store",
    "open_store": "mailsink.store",
}


__getattr__ = lazy_getattr(__name__, _LAZY)


__all__ = [
    "Address",
    "Envelope",
    "Mailbox",
    "MemoryStore",
    "MessageStore",
    "ParsedMessage",
    "Part",
    "Query",
    "SQLiteStore",
    "SearchError",
    "Settings",
    "Sink",
    "StoredMessage",
    "Summary",
    "__version__",
    "open_store",
    "parse_message",
    "parse_query",
]
