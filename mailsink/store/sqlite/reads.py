"""The SQLite store's pages, searches and tag counts, written to stay fast at a million messages.

Why each is built the way it is (issue 19, measured at 1,000,000 messages):

- A deep page of the whole mailbox (``start=500000``) by ``OFFSET`` steps
  through half the table, page by page: 288 ms.  While the seqs are dense
  (nothing deleted but the oldest: pruning, delete-all), the page's first
  seq is ``max(seq) - start`` and the page is a range of the primary key.
- A search used to run twice (the page, then ``count(*)``) and a third time
  for the unread among the matches.  :func:`search_page` finds the matches
  once: one statement counts them, counts the unread ones and numbers them
  newest first, keeping only the seqs of the page; a second statement, in
  the same read transaction, reads those rows.
- ``/api/v1/info`` ran one ``tag:`` search per tag; :func:`tag_counts`
  groups the partial index of tagged messages once.
"""

from __future__ import annotations

import collections
import sqlite3

from mailsink.message import normalize_tags
from mailsink.store.base import StoredMessage
from mailsink.store.codec import envelope_from_json, summary_from_json
from mailsink.store.sqlite import meta
from mailsink.store.sqlite.query import SEP

COLUMNS = "id, received, read, tags, envelope, summary"
"""The columns :func:`record` builds a StoredMessage from."""

Row = tuple[object, ...]


def tags_load(text: str) -> tuple[str, ...]:
    """Return the tags of a ``tags`` column (SEP-joined, '' when untagged)."""
    return tuple(text.split(SEP)) if text else ()


def record(row: Row) -> StoredMessage:
    """Build a StoredMessage from a row of COLUMNS."""
    message_id, received, read, tags, envelope, summary = row
    return StoredMessage(
        id=str(message_id),
        received=float(received),  # type: ignore[arg-type]
        envelope=envelope_from_json(meta.unpack(envelope, meta.ENVELOPE_DICT)),
        summary=summary_from_json(meta.unpack(summary, meta.SUMMARY_DICT)),
        read=bool(read),
        tags=tags_load(str(tags)),
    )


def newest_page(
    db: sqlite3.Connection, start: int, limit: int, total: int, dense: bool
) -> list[Row]:
    """Return rows ``start`` to ``start + limit`` of every message, newest first.

    ``dense`` says the store deleted nothing but its oldest messages since
    it was opened, so seqs have no holes; the statement checks that in its
    own snapshot too (``max - min + 1`` equals ``total``, the store's count)
    and returns nothing when it does not hold, and then the page is read by
    ``OFFSET``.  A snapshot from just before or after a commit that moved
    the count fails that check rather than giving a shifted page.
    """
    if limit <= 0 or start >= total:
        return []
    if dense and start > 0:
        rows = db.execute(
            f"SELECT {COLUMNS} FROM messages "
            "WHERE seq <= (SELECT max(seq) FROM messages) - ? "
            # Two subqueries: SQLite finds min() or max() in the primary key only alone.
            "AND (SELECT max(seq) FROM messages) - (SELECT min(seq) FROM messages) + 1 = ? "
            "ORDER BY seq DESC LIMIT ?",
            (start, total, limit),
        ).fetchall()
        if rows:
            return rows
    return db.execute(
        f"SELECT {COLUMNS} FROM messages ORDER BY seq DESC LIMIT ? OFFSET ?", (limit, start)
    ).fetchall()


def search_page(
    db: sqlite3.Connection, where: str, params: list[object], start: int, limit: int
) -> tuple[list[Row], int, int]:
    """Return (rows of the page, messages matching, unread among them) with one search.

    Both statements run in one read transaction, so the page and the counts
    describe the same moment.
    """
    db.execute("BEGIN")
    try:
        matched, unread, page = db.execute(
            "SELECT count(*), total(read = 0), "
            "json_group_array(seq) FILTER (WHERE n > ? AND n <= ?) FROM "
            "(SELECT seq, read, row_number() OVER (ORDER BY seq DESC) AS n "
            f"FROM messages WHERE {where})",
            [start, start + limit, *params],
        ).fetchone()
        rows = []
        if page != "[]":
            rows = db.execute(
                f"SELECT {COLUMNS} FROM messages "
                "WHERE seq IN (SELECT value FROM json_each(?)) ORDER BY seq DESC",
                (page,),
            ).fetchall()
    finally:
        db.execute("COMMIT")
    return rows, int(matched), int(unread)


def tag_counts(db: sqlite3.Connection) -> dict[str, int]:
    """Return every tag in use with the number of messages ``tag:NAME`` finds, sorted as tags().

    One pass over the partial index of tagged messages, grouped by the
    ``tags`` column: far fewer groups than messages.
    """
    counts: collections.Counter[str] = collections.Counter()
    spellings: list[str] = []
    for text, count in db.execute(
        "SELECT tags, count(*) FROM messages WHERE tags != '' GROUP BY tags"
    ):
        tags = tags_load(str(text))
        spellings.extend(tags)
        counts.update(dict.fromkeys({tag.lower() for tag in tags}, int(count)))
    names = sorted(normalize_tags(spellings), key=str.lower)
    return {name: counts[name.lower()] for name in names}
