"""One statement that stores a batch of messages: its rows, texts, count delta and notification.

An ``add`` had sent five statements in a pipeline: an ``executemany`` of the
message rows, another of their texts, the count delta, the ``pg_notify`` and
the pipeline's Sync.  psycopg's pipeline sends and flushes each row of an
``executemany`` on its own and parses each statement's results at the Sync;
a py-spy profile of one node under ten 1 KB sessions put the store's
``add_async`` at 30% of the SMTP loop, most of it in that machinery and in
adapting 23 parameters a row, not in the database.

Here a batch is one statement (:data:`ADD_SQL`) with the same text and
13 parameters whatever its size: the rows' short values (text, numbers,
the address and tag arrays) as one JSON document (made by the C encoder of
``json``, read back by ``json_to_recordset``), and the long ones (raw
bytes, envelope and summary, search texts) as binary arrays, zipped with
the rows by ``ROWS FROM`` and ``unnest``.  One ``INSERT`` per table runs in
a data-modifying ``WITH`` clause (PostgreSQL runs each exactly once, to
completion, whether or not the main query reads it), and the main query
sends the notifications.  One round trip, one implicit transaction in
autocommit, no pipeline.

What adapting a batch's parameters costs the node (psycopg's conversion of
the parameters, CPython 3.11, a 1 KB message, this machine): 58 us a
message as 23 parameters a row (the old ``executemany``); a row of
placeholders per message is never cached by psycopg (over 50 parameters),
and its regex took 2.6 ms for ten messages; one array per column, 204 us for
one message (psycopg's array dumpers are Python code, a few microseconds
an array); the JSON document, 34 us for one message and 189 us for ten.

Foreign keys: the texts reference their messages, inserted by a sibling
clause.  The check is an after-trigger, fired at the end of the statement,
when the messages' rows are in place.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from mailsink.store.postgres.schema import TEXT_HEAD

COLUMNS = (
    ("id", "text"),
    ("received", "float8"),
    ("size", "int4"),
    ("attachments", "int4"),
    ("inline_parts", "int4"),
    ("tags", "text[]"),
    ("s_tags", "text[]"),
    ("envelope", "bytea"),
    ("summary", "bytea"),
    ("s_subject", "text"),
    ("s_message_id", "text"),
    ("s_from", "text"),
    ("s_from_addrs", "text[]"),
    ("s_to", "text"),
    ("s_to_addrs", "text[]"),
    ("s_cc", "text"),
    ("s_cc_addrs", "text[]"),
    ("s_bcc", "text"),
    ("s_bcc_addrs", "text[]"),
    ("s_reply_to", "text"),
    ("s_reply_to_addrs", "text[]"),
    ("s_headers", "text"),
    ("raw", "bytea"),
)
"""``mailsink_messages``' columns as a batch sets them, in the order of a row's values
(``store._row``), with their types."""

_BINARY = tuple(name for name, kind in COLUMNS if kind == "bytea")
_JSON = tuple((index, name) for index, (name, kind) in enumerate(COLUMNS) if kind != "bytea")
_BINARY_AT = tuple(index for index, (_name, kind) in enumerate(COLUMNS) if kind == "bytea")

ADD_SQL = (
    "WITH m AS (INSERT INTO mailsink_messages ("
    + ", ".join(name for name, _kind in COLUMNS)
    + ") SELECT "
    + ", ".join(name for name, _kind in COLUMNS)
    + " FROM ROWS FROM (json_to_recordset(%s::json) AS ("
    + ", ".join(f"{name} {COLUMNS[index][1]}" for index, name in _JSON)
    + "), "
    + ", ".join("unnest(%b::bytea[])" for _name in _BINARY)
    + ") AS r("
    + ", ".join((*(name for _index, name in _JSON), *_BINARY))
    + ")), "
    "t AS (INSERT INTO mailsink_text_new (id, search, long) "
    "SELECT * FROM unnest(%b::text[], %b::text[], %b::bool[])), "
    "l AS (INSERT INTO mailsink_long_text (id, search) "
    "SELECT * FROM unnest(%b::text[], %b::text[])), "
    "c AS (INSERT INTO mailsink_counts (total, unread) VALUES (%s, %s)) "
    "SELECT pg_notify(%s, p) FROM unnest(%s::text[]) AS p"
)
"""Store a batch: the same statement for every batch, so psycopg converts it once
and prepares it on each connection after a few uses.  The long values (raw
bytes, search texts) travel as binary arrays, not in the JSON document that
the database would parse twice (``::json`` checks it, ``json_to_recordset``
reads it): that had cost 100 KB mail 1 ms more database CPU a message."""


def add_statement(
    rows: Sequence[Sequence[object]],
    texts: Sequence[str],
    channel: str,
    notices: list[str],
) -> tuple[str, list[object]]:
    """Return the SQL and parameters that store a batch and announce it on ``channel``.

    ``rows`` are the messages' values in the order of :data:`COLUMNS` (the
    arrays as lists of text, all text free of NUL: ``store._text``), all new
    and unread; ``texts`` their search texts, in the same order; ``notices``
    the payloads of the ``new`` notification.

    A text past ``TEXT_HEAD`` characters is stored whole once, in
    ``mailsink_long_text``; only its head goes to the indexer (schema
    version 7).  Python counts characters as PostgreSQL's ``left`` does.
    """
    if len(texts) != len(rows):
        raise ValueError("each message needs its search text")
    records = [{name: row[index] for index, name in _JSON} for row in rows]
    document = json.dumps(records, ensure_ascii=False, separators=(",", ":"))
    binary = [[row[index] for row in rows] for index in _BINARY_AT]
    ids = [str(row[0]) for row in rows]
    heads = [text[:TEXT_HEAD] for text in texts]
    longs = [len(text) > TEXT_HEAD for text in texts]
    long_ids = [i for i, long in zip(ids, longs, strict=True) if long]
    wholes = [text for text, long in zip(texts, longs, strict=True) if long]
    return ADD_SQL, [
        document,
        *binary,
        ids,
        heads,
        longs,
        long_ids,
        wholes,
        len(rows),
        len(rows),
        channel,
        notices,
    ]
