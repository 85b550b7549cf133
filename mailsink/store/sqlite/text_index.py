"""The SQLite store's free-text index: FTS5 words in their own file, kept up in the background.

It holds each message's head split into words (FTS5 ``ascii``) and the
vocabulary of those words with a trigram index of its own, which is how a
piece of a word is found (``words.py``).

Why not in the message transaction: indexing costs CPU (trigrams of the
whole text, version 3, half a millisecond per kilobyte), which made the disk
store the slowest step between DATA and the 250 reply.  Here the ingest transaction only
stores the message; this index's thread then indexes new messages in
batches, on its own connection to its own database file, so it never
contends for the message database's write lock and its C code runs in
parallel with the listener.

Searches stay exact while the index lags: it records the highest message
``seq`` it has indexed (``upto``, in the same transaction as the index
rows), and a query scans the text of messages above that mark (see
``query.py``).  The index is derived data: it is rebuilt from the
messages whenever it is missing, damaged, of another version, or ahead of
the message database.  Message ``seq`` numbers are never reused (the store
keeps its AUTOINCREMENT counter across delete-all), so an index row left
behind by a deleted message can never match a new one; queries also only
ever select rows that are still in ``messages``.

Deleting the index file while the store runs is safe: the thread notices
(within a second; the file is gone or is another file) and rebuilds it from
the messages, bumping :attr:`TextIndex.generation` so that each reader
connection attaches the new file; until then searches scan (the store
falls back to the scan when a query finds no index to read).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

from mailsink.store.sqlite import emptying
from mailsink.store.sqlite.words import body_of, words_of
from mailsink.store.sqlite.worker import Worker

FTS_HEAD = 4096
"""Characters of each message's search text put in the index.

Longer texts (flagged ``text_long`` in ``messages``) are also scanned
whole at search time, so a match past the head, or straddling it, is never
missed; only long messages pay that scan."""

HEAD_BYTES = FTS_HEAD * 4
"""A character is at most 4 UTF-8 bytes: this many bytes hold the whole indexed head."""

INDEX_VERSION = 4
"""Version 4 indexes words and their vocabulary instead of the trigrams of the text: a
term of one run of word characters is answered without checking a text, and a 2 KB message
costs two thirds of the CPU to index (220 against 328 us) and a quarter of the disk (the
index of a million: 234 MB against about 930).  Version 3 kept no copy of the
text (``content=''``); version 2 kept no token positions (``detail=none``); version 1 kept
them for phrase queries.  An index of another version is rebuilt."""
BATCH = 500
SWEEP_AFTER = 100_000
"""Messages forgotten (deleted, pruned) between two sweeps of the vocabulary (``_sweep``):
a sweep reads every word of the vocabulary and the index, 1 s of CPU for 389,000 words
(200,000 messages), so pruning a store of that size at 1,000 msg/s pays about 1% of a core
for it (more for a bigger vocabulary; not measured at a million)."""
LINGER = 0.2
"""Seconds the thread waits after being woken, so that it indexes many messages per
transaction: one at a time, its commits cost more than the indexing itself."""

_TABLES = """
CREATE VIRTUAL TABLE fts USING fts5(body, tokenize = 'ascii', detail = none, content = '');
CREATE TABLE vocab (id INTEGER PRIMARY KEY, word TEXT NOT NULL UNIQUE);
CREATE VIRTUAL TABLE vocab_grams USING fts5(
    word, tokenize = 'trigram case_sensitive 1', content = 'vocab', content_rowid = 'id'
);
"""
"""``fts``: the words of each message's head, by seq (no positions, no copy of the text).
``vocab``: every word given to ``fts`` (swept once many messages went: a word no message
has only finds nothing); ``vocab_grams``: its words' trigrams, case-sensitive, so that a phrase
query is exactly a substring test."""

_SCHEMA = f"""
{_TABLES}
CREATE TABLE state (upto INTEGER NOT NULL);
INSERT INTO state VALUES (0);
PRAGMA user_version = {INDEX_VERSION};
"""

log = logging.getLogger(__name__)

ReadText = Callable[[int, int, int, int, "int | None"], "bytes | None"]
"""Read a message's search text: (segment, offset, raw_size, text_size, packed) -> UTF-8
bytes, None if gone (the store's ``_text``)."""

LISTED = "seq, segment, raw_offset, raw_size, text_size, packed"
"""The columns of a message row the thread reads its text by (``ReadText``'s arguments)."""


class TextIndex:
    """Own the index file and the thread that indexes new messages into it."""

    def __init__(
        self,
        path: Path,
        connect_messages: Callable[[], sqlite3.Connection],
        read_text: ReadText,
        newest_seq: int,
        committed: Callable[[], None] = lambda: None,
    ) -> None:
        """Open (or rebuild) the index file; the thread starts in :meth:`start`.

        ``committed`` is called after each transaction on the index (the
        store's checkpointer learns from it that this WAL grew).
        """
        self.path = path
        self._read_text = read_text
        self._connect_messages = connect_messages
        self._committed = committed
        self._db = self._open(newest_seq)
        self._inode = _inode(self.path)
        self.generation = 0
        """Bumped each time the file is rebuilt while running: readers re-attach it."""
        self._messages: sqlite3.Connection | None = None
        self._upto = int(self._db.execute("SELECT upto FROM state").fetchone()[0])
        self._changed = threading.Condition()
        self._worker = Worker("mailsink-index", self._run)
        self._wake, self._stopping = self._worker.wake, self._worker.stopping
        self._forget: list[tuple[int, str]] = []
        self._forget_all = False
        self._forgotten = 0
        """Messages forgotten since the vocabulary was last swept (see :data:`SWEEP_AFTER`)."""
        self._hold = threading.Lock()
        self._urgent = False

    def start(self) -> None:
        """Start the thread that indexes new messages (once)."""
        if not self._worker.started:
            self._messages = self._connect_messages()
            self._worker.start()

    def connect(self) -> sqlite3.Connection:
        """Open a new connection to the index database."""
        return sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)

    def _open(self, newest_seq: int) -> sqlite3.Connection:
        """Open the index, rebuilding it if it is unusable or ahead of the messages."""
        for attempt in range(2):
            conn = self.connect()
            try:
                conn.execute("PRAGMA journal_mode = WAL")
                conn.execute("PRAGMA synchronous = NORMAL")
                version = conn.execute("PRAGMA user_version").fetchone()[0]
                if version == 0:
                    conn.executescript(f"BEGIN; {_SCHEMA} COMMIT;")
                    return conn
                upto = conn.execute("SELECT upto FROM state").fetchone()[0]
                if version == INDEX_VERSION and upto <= newest_seq:
                    return conn
            except sqlite3.DatabaseError as error:
                if attempt:
                    raise
                log.warning("rebuilding the search index %s: %s", self.path, error)
            conn.close()
            for suffix in ("", "-wal", "-shm"):
                Path(f"{self.path}{suffix}").unlink(missing_ok=True)
        raise AssertionError("unreachable")

    def attach(self, conn: sqlite3.Connection) -> None:
        """Make the index readable as ``idx`` on a connection to the message database."""
        conn.execute("ATTACH DATABASE ? AS idx", (str(self.path),))

    def notify(self) -> None:
        """Tell the thread that new messages were committed."""
        self._wake.set()

    def forget(self, heads: list[tuple[int, str]]) -> None:
        """Queue the index rows of deleted messages for removal: (seq, head) from :func:`head_of`.

        Only to save space (queries only select messages still stored).  A
        contentless index removes a row by the text it indexed, so the store
        reads it before the bytes go; seqs the index does not hold are skipped.
        """
        if heads:
            with self._changed:
                self._forget.extend(heads)
            self._wake.set()

    def forget_all(self) -> None:
        """Queue the removal of every index row (after delete-all)."""
        with self._changed:
            self._forget_all = True
            self._forget.clear()
        self._wake.set()

    @property
    def upto(self) -> int:
        """Return the highest message seq indexed so far."""
        return self._upto

    def wait_indexed(self, seq: int, timeout: float = 10.0) -> bool:
        """Wait until every message up to ``seq`` is indexed; False on timeout (or not started)."""
        if not self._worker.started:
            return self._upto >= seq
        self._urgent = True
        self._wake.set()
        with self._changed:
            return self._changed.wait_for(lambda: self._upto >= seq, timeout)

    @contextlib.contextmanager
    def hold(self) -> Iterator[None]:
        """Index nothing while the block runs (lets tests search a lagging index)."""
        with self._hold:
            yield

    def close(self) -> None:
        """Stop the thread and close the files (what is not indexed yet is indexed next time)."""
        self._worker.stop(timeout=30)
        for conn in (self._db, self._messages):
            if conn is not None:
                with contextlib.suppress(sqlite3.Error):
                    conn.close()

    def _reopen_if_deleted(self) -> None:
        """Rebuild the index from the messages if its file was deleted or replaced."""
        if _inode(self.path) == self._inode:
            return
        log.warning("the search index %s was deleted; rebuilding it", self.path)
        with contextlib.suppress(sqlite3.Error):
            self._db.close()
        self._db = self._open(0)
        self._inode = _inode(self.path)
        with self._changed:
            self._upto = int(self._db.execute("SELECT upto FROM state").fetchone()[0])
            self.generation += 1

    def _run(self) -> None:
        while not self._stopping.is_set():
            if self._wake.wait(1.0) and not self._urgent:
                self._stopping.wait(LINGER)
            self._wake.clear()
            self._urgent = False
            try:
                self._reopen_if_deleted()
                while not self._stopping.is_set():
                    with self._hold:
                        if not self._step():
                            break
            except sqlite3.Error:
                log.exception("search index update failed; retrying")
                self._stopping.wait(1.0)

    def _step(self) -> bool:
        """Index one batch of new messages and drop forgotten rows; True if more may wait."""
        with self._changed:
            forget, self._forget = self._forget, []
            forget_all, self._forget_all = self._forget_all, False
        # One row of JSON rather than a row per message, and one INSERT below
        # rather than one per message: the sqlite3 module takes the GIL back
        # after every step, and each time the listener's thread may have to wait.
        assert self._messages is not None, "start() opens it"
        listed = self._messages.execute(
            f"SELECT json_group_array(json_array({LISTED})) "
            "FROM (SELECT * FROM messages WHERE seq > ? ORDER BY seq LIMIT ?)",
            (self._upto, BATCH),
        ).fetchone()[0]
        rows: list[list[int | None]] = json.loads(listed)
        if not (rows or forget or forget_all):
            return False
        entries = self._read_heads(rows)
        upto = int(rows[-1][0] or 0) if rows else self._upto
        with emptying.freeing_pages(self._db) if forget_all else contextlib.nullcontext():
            self._write(entries, upto, forget, forget_all)
        self._forgotten = 0 if forget_all else self._forgotten + len(forget)
        if self._forgotten >= SWEEP_AFTER:
            self._sweep()
            self._forgotten = 0
        self._committed()
        with self._changed:
            self._upto = upto
            self._changed.notify_all()
        return len(rows) == BATCH

    def _write(
        self,
        entries: list[tuple[int, str]],
        upto: int,
        forget: list[tuple[int, str]],
        forget_all: bool,
    ) -> None:
        """Add index rows, drop forgotten ones (or all) and move the mark, in one transaction."""
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            if forget_all:
                for table in ("fts", "vocab_grams", "vocab"):
                    db.execute(f"DROP TABLE {table}")
                _create_tables(db)
            db.execute(
                "INSERT INTO fts (rowid, body) SELECT value ->> 0, value ->> 1 FROM json_each(?)",
                (json.dumps([(seq, body_of(head)) for seq, head in entries]),),
            )
            _add_words(db, entries)
            if forget:
                # After the inserts (one of them may be deleted already), and only rows
                # the index holds: a contentless 'delete' of a row it does not hold
                # would take the text's words from other rows' counts.
                db.execute(
                    "INSERT INTO fts (fts, rowid, body) SELECT 'delete', value ->> 0, value ->> 1 "
                    "FROM json_each(?) WHERE value ->> 0 IN (SELECT id FROM fts_docsize)",
                    (json.dumps([(seq, body_of(head)) for seq, head in forget]),),
                )
            db.execute("UPDATE state SET upto = ?", (upto,))
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    def _sweep(self) -> None:
        """Drop the vocabulary's words that no indexed message holds any more.

        The vocabulary only grows as messages come (a Message-ID alone brings a
        new word each), so a store that prunes or deletes would keep the words of
        every message it ever had.  ``fts5vocab`` lists the words ``fts`` still
        holds; only words it does not list go, so a word of an indexed message
        is never lost (the one-word search answered by the vocabulary relies on it).
        """
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            db.execute("CREATE VIRTUAL TABLE temp.fts_words USING fts5vocab(main, fts, 'row')")
            db.execute(
                "CREATE TEMP TABLE gone AS SELECT id, word FROM vocab "
                "WHERE word NOT IN (SELECT term FROM temp.fts_words)"
            )
            db.execute(
                "INSERT INTO vocab_grams (vocab_grams, rowid, word) "
                "SELECT 'delete', id, word FROM temp.gone"
            )
            db.execute("DELETE FROM vocab WHERE id IN (SELECT id FROM temp.gone)")
            db.execute("DROP TABLE temp.gone")
            db.execute("DROP TABLE temp.fts_words")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    def _read_heads(self, rows: list[list[int | None]]) -> list[tuple[int, str]]:
        """Return (seq, head of the search text) for rows of ``LISTED`` columns.

        A message deleted since the SELECT is left out; one compacted since
        is read again from its new place.
        """
        heads: list[tuple[int, str]] = []
        moved: list[int] = []
        for seq, segment, offset, raw_size, text_size, packed in rows:
            assert seq is not None and segment is not None and offset is not None
            assert raw_size is not None and text_size is not None
            text = self._read_text(segment, offset, raw_size, text_size, packed)
            if text is None:
                moved.append(seq)
            else:
                heads.append((seq, head_of(text)))
        if moved:
            heads.extend(self._read_moved(moved))
        return heads

    def _read_moved(self, seqs: list[int]) -> list[tuple[int, str]]:
        """Read heads again from where the rows point now: their segment went away.

        That happens when the messages were deleted (their rows are gone too)
        or compacted into another segment since the SELECT; the latter must
        still be indexed, or a search would take them for indexed and miss them.
        """
        heads = []
        assert self._messages is not None, "start() opens it"
        rows = self._messages.execute(
            f"SELECT {LISTED} FROM messages WHERE seq IN (SELECT value FROM json_each(?))",
            (json.dumps(seqs),),
        ).fetchall()
        for seq, segment, offset, raw_size, text_size, packed in rows:
            text = self._read_text(segment, offset, raw_size, text_size, packed)
            if text is not None:
                heads.append((seq, head_of(text)))
        return heads


def _create_tables(db: sqlite3.Connection) -> None:
    """Create the index's tables, in the caller's transaction (``executescript`` would commit)."""
    for statement in _TABLES.split(";"):
        if statement.strip():
            db.execute(statement)


def _add_words(db: sqlite3.Connection, entries: list[tuple[int, str]]) -> None:
    """Add the words of these heads that the vocabulary lacks, and their trigrams."""
    found: set[str] = set()
    for _seq, head in entries:
        found.update(words_of(head))
    if not found:
        return
    top = int(db.execute("SELECT coalesce(max(id), 0) FROM vocab").fetchone()[0])
    # Through JSON as the heads go, so a word is the very string the tokenizer saw.
    db.execute(
        "INSERT OR IGNORE INTO vocab (word) SELECT value FROM json_each(?)",
        (json.dumps(sorted(found)),),
    )
    db.execute(
        "INSERT INTO vocab_grams (rowid, word) SELECT id, word FROM vocab WHERE id > ?", (top,)
    )


def _inode(path: Path) -> tuple[int, int] | None:
    """Return the (device, inode) of a file, None if it does not exist."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return None
    return info.st_dev, info.st_ino


def head_of(text: bytes) -> str:
    """Return the part of a message's search text (UTF-8) that the index holds."""
    return _decode_head(text[:HEAD_BYTES])


def _decode_head(data: bytes) -> str:
    """Decode the first bytes of a UTF-8 text, dropping a character cut at the end."""
    for cut in range(4):
        try:
            return data[: len(data) - cut].decode("utf-8", "surrogatepass")[:FTS_HEAD]
        except UnicodeDecodeError:
            continue
    return data.decode("utf-8", "replace")[:FTS_HEAD]
