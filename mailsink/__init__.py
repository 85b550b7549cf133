"""mailsink: a catch-all SMTP sink for development and tests.

The public API is what this module lists in ``__all__``; everything else may
change between releases.
"""

from __future__ import annotations

__version__ = "0.1.0"

from mailsink.config import Settings
from mailsink.mailbox import Mailbox
from mailsink.message import Address, Envelope, ParsedMessage, Part, Summary, parse_message
from mailsink.search import Query, SearchError, parse_query
from mailsink.server import Sink
from mailsink.store import MemoryStore, MessageStore, SQLiteStore, StoredMessage, open_store

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
