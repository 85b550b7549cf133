"""The disk store: a SQLite database (and its blobs and index) that survives ``kill -9``.

Durability: the database runs in WAL mode and each :meth:`SQLiteStore.add`
batch is one committed transaction, finished before the listener sends its
250 reply.  ``synchronous=NORMAL`` is enough for that promise: a committed
WAL transaction is in the operating system's hands and survives the process
being killed at any moment (it is only a power loss that NORMAL does not
cover; ``--store-sync full`` is for people who need that too).

Speed: list and count never scan.  Counts are kept in Python, pages come
from the ``seq`` primary key, searches use lowercased ``s_*`` columns and an
FTS5 word index (with the vocabulary's words) for substring text search.

The files on disk, the write order and the threads are drawn in this
package's ``__init__``.
"""

from __future__ import annotations

import builtins
import contextlib
import sqlite3
import threading
import time
import zlib
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from mailsink.headers import header_block, header_matches
from mailsink.message import Address
from mailsink.store.base import (
    CorruptMessageError,
    Incoming,
    Page,
    StoredMessage,
    clamp_page,
    edit_tag,
    normalize_tags,
)
from mailsink.store.codec import envelope_to_json, summary_to_json
from mailsink.store.match import address_text, compile_query, search_text
from mailsink.store.relays import RelayJob
from mailsink.store.sqlite import emptying, meta, reads
from mailsink.store.sqlite import relays as relay_table
from mailsink.store.sqlite.blobs import BlobSegments, SegmentLedger
from mailsink.store.sqlite.checkpoint import Checkpointer
from mailsink.store.sqlite.lock import LOCK_SUFFIX, StoreLock
from mailsink.store.sqlite.packing import STORED_SIZE_SQL, UnpackError, pack, raw_from, text_from
from mailsink.store.sqlite.query import SEP, compile_where
from mailsink.store.sqlite.text_index import FTS_HEAD, TextIndex, head_of

if TYPE_CHECKING:
    from mailsink.search import Query

SCHEMA_VERSION = 5

_SCHEMA = """
CREATE TABLE messages (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    received REAL NOT NULL,
    read INTEGER NOT NULL DEFAULT 0,
    size INTEGER NOT NULL,
    attachments INTEGER NOT NULL,
    inline_parts INTEGER NOT NULL,
    tags TEXT NOT NULL,
    envelope BLOB NOT NULL,
    summary BLOB NOT NULL,
    s_subject TEXT NOT NULL,
    s_message_id TEXT NOT NULL,
    s_from TEXT NOT NULL, s_from_addrs TEXT NOT NULL,
    s_to TEXT NOT NULL, s_to_addrs TEXT NOT NULL,
    s_cc TEXT NOT NULL, s_cc_addrs TEXT NOT NULL,
    s_bcc TEXT NOT NULL, s_bcc_addrs TEXT NOT NULL,
    s_reply_to TEXT NOT NULL, s_reply_to_addrs TEXT NOT NULL,
    s_tags TEXT NOT NULL,
    s_headers TEXT NOT NULL,
    segment INTEGER NOT NULL,
    raw_offset INTEGER NOT NULL,
    raw_size INTEGER NOT NULL,
    text_size INTEGER NOT NULL,
    text_long INTEGER NOT NULL,
    raw_crc INTEGER,
    packed INTEGER
);
CREATE INDEX messages_unread ON messages(seq) WHERE read = 0;
CREATE INDEX messages_tagged ON messages(tags) WHERE tags != '';
CREATE INDEX messages_long ON messages(seq) WHERE text_long = 1;
CREATE INDEX messages_segment ON messages(segment, packed, raw_size, text_size)
"""
"""Version 5.  Every index is here too: clear() recreates the table from it.

``envelope`` and ``summary`` are their JSON as raw deflate streams with a
preset dictionary (``meta.py``, version 5); rows from before hold the JSON
text, which is read as it is.

A message takes ``packed`` bytes at ``raw_offset`` of blob segment
``segment``: one zlib stream of its raw bytes (``raw_size``) and its search
text (lowercased, UTF-8, ``text_size`` bytes; ``packing.py``).  Rows from
before version 4 have ``packed`` NULL: the raw bytes then the text, as they
are.  ``text_long`` marks texts longer than the indexed head.  ``messages_segment``
(version 4) covers what the segment ledger sums when a store opens, which was a
scan of the whole table: 0.9 s of a restart at a million messages.  ``raw_crc`` is
the CRC-32 of the raw bytes, checked on every read (version 3; NULL for rows
a version 2 file already held: their length is still checked)."""

_MIGRATIONS = {
    2: "ALTER TABLE messages ADD COLUMN raw_crc INTEGER",
    3: "ALTER TABLE messages ADD COLUMN packed INTEGER; "
    "CREATE INDEX messages_segment ON messages(segment, packed, raw_size, text_size)",
    4: "",  # new rows' envelope and summary are compressed; the old rows' text still reads
}
"""The statement that brings a file of each older version one version forward."""

SIDE_FILES = ("-wal", "-shm", "-index", "-index-wal", "-index-shm", LOCK_SUFFIX)
"""Suffixes of the files beside the database (``PATH``) that belong to it; see the map."""
BLOBS_SUFFIX = "-blobs"
"""Suffix of the folder of blob segments beside the database."""

COMPACTED_GRACE = 5.0
"""Seconds a compacted segment file stays for readers of older snapshots."""

_T = TypeVar("_T")

MMAP_BYTES = 2**31 - 2**16
"""Bytes of each database file read through a memory map (this build's ceiling, 0x7fff0000).

Deep pages and scans at a million messages read a 1.4 GB table; through
SQLite's 2 MB page cache each read was a copy, and ``start=500000`` took
220 ms; mapped, 15-18 ms (issue 19).  The pages are the kernel's page
cache, shared by every connection, not the process's own memory."""

WRITER_CACHE_KIB = 32 * 1024
"""The writer's page cache, in KiB: the ``id`` index takes random inserts, and
with the default 2 MB its pages were read again for every batch once it outgrew
that (ingest slowed down as the store filled)."""

WRITE_CHUNK = 256
"""Messages changed per transaction by a bulk delete, flag or tag request.

Each chunk is one set-based statement under the write lock, which is let go
between chunks, so SMTP (which needs the same lock to commit) waits behind
an API request of any size for one chunk at most: a few milliseconds.
One UPDATE per ID in one transaction held it for 14 s at 20,000 IDs."""


def _chunks(ids: Iterable[str]) -> Iterator[builtins.list[str]]:
    """Yield the distinct IDs in request order, WRITE_CHUNK at a time."""
    wanted = list(dict.fromkeys(ids))
    for start in range(0, len(wanted), WRITE_CHUNK):
        yield wanted[start : start + WRITE_CHUNK]


def _marks(values: builtins.list[str]) -> str:
    """Return the ``?, ?, ...`` placeholders of an IN list."""
    return ", ".join("?" * len(values))


def _let_others_in() -> None:
    """Give up the GIL between chunks, so a thread waiting for the write lock gets it."""
    time.sleep(0)


def _addrs(addresses: tuple[Address, ...]) -> str:
    """Return addresses as SEP-delimited lowercased addresses, for exact matching."""
    if not addresses:
        return ""
    return SEP + SEP.join(a.address.lower() for a in addresses) + SEP


def _tags_column(tags: tuple[str, ...]) -> str:
    """Return tags as a SEP-delimited lowercased string, '' when untagged."""
    if not tags:
        return ""
    return SEP + SEP.join(t.lower() for t in tags) + SEP


def _tags_text(tags: tuple[str, ...]) -> str:
    return SEP.join(tags)


_Deleted = tuple[int, str, int, int, int, int, int, int, "int | None"]
"""(seq, id, read, segment, bytes in the segment, offset, raw_size, text_size, packed) of
a message being deleted."""

_DELETED_COLUMNS = (
    f"seq, id, read, segment, {STORED_SIZE_SQL}, raw_offset, raw_size, text_size, packed"
)


class SQLiteStore:
    """Keep messages in a SQLite file; one writer connection, one reader per thread."""

    def __init__(
        self,
        path: str | Path,
        max_messages: int = 0,
        synchronous: str = "normal",
        *,
        text_index: bool = True,
        segment_bytes: int | None = None,
        read_only: bool = False,
    ):
        """Open or create the store at ``path``.

        ``text_index=False`` keeps no text index: free text is then found
        by scanning (the tests use it to check that path on its own).
        ``segment_bytes`` overrides the blob segment size (tests).

        A store takes its lock file first (``lock.py``) and raises
        :class:`~mailsink.store.sqlite.lock.StoreInUseError` if another
        holds it.  ``read_only=True`` is for a second reader of a store in
        use (a dump, an inspection): it takes no lock, creates, migrates,
        deletes and indexes nothing, and every write raises PermissionError.
        """
        self.path = Path(path)
        self.read_only = read_only
        self._lock: StoreLock | None = None
        if read_only:
            if not self.path.exists():
                raise FileNotFoundError(f"{self.path}: no such store to open read-only")
            text_index = False
        else:
            self._lock = StoreLock(self.path)
            self._lock.acquire()
        try:
            self._open(max_messages, synchronous, text_index, segment_bytes)
        except BaseException:
            if self._lock is not None:
                self._lock.release()
            raise

    def _open(
        self, max_messages: int, synchronous: str, text_index: bool, segment_bytes: int | None
    ) -> None:
        """Open the files (the lock is held); see __init__."""
        self.max_messages = max_messages
        self._synchronous = {"normal": "NORMAL", "full": "FULL"}[synchronous.lower()]
        self._write_lock = threading.Lock()
        self._local = threading.local()
        self._connections: builtins.list[sqlite3.Connection] = []
        self._connections_lock = threading.Lock()
        blob_options = {"segment_bytes": segment_bytes} if segment_bytes else {}
        self._blobs = BlobSegments(
            Path(f"{self.path}{BLOBS_SUFFIX}"),
            sync_writes=self._synchronous == "FULL",
            read_only=self.read_only,
            **blob_options,
        )
        self._writer = self._connect()
        self._writer.execute(f"PRAGMA cache_size = -{WRITER_CACHE_KIB}")
        # Checkpoints copy the WAL into the database and fsync: slow, and done by
        # whichever connection commits past the threshold.  Here a background
        # thread does them, so ingest (and the 250 reply) never waits for one.
        self._writer.execute("PRAGMA wal_autocheckpoint = 0")
        self._migrate()
        with self._write_lock:
            relay_table.ensure_relay_table(self._writer)
        self._validity = self._load_validity()
        self._total = self._writer.execute("SELECT count(*) FROM messages").fetchone()[0]
        self._unread = self._writer.execute(
            "SELECT count(*) FROM messages WHERE read = 0"
        ).fetchone()[0]
        self._dense = self._seqs_dense()
        """No holes in the seqs (only the oldest were ever deleted): deep pages by range."""
        self._ledger = SegmentLedger(
            self._writer.execute(
                f"SELECT segment, count(*), sum({STORED_SIZE_SQL}) FROM messages GROUP BY segment"
            )
        )
        self._blobs.remove(s for s in self._blobs.segments() if s not in self._ledger)
        self._index: TextIndex | None = None
        if text_index:
            self._index = TextIndex(
                Path(f"{self.path}-index"),  # one of SIDE_FILES
                self._connect,
                self._text,
                self._newest_seq(),
                committed=lambda: self._checkpointer.written(),  # noqa: PLW0108 - built below
            )
        self._checkpointer = Checkpointer(
            self._connect, [] if self._index is None else [self._index.connect]
        )

    def start(self) -> SQLiteStore:
        """Start the helper threads (the text index's and the checkpointer's); return self.

        Without them the store still works: searches scan what is not
        indexed, and the WAL is checkpointed only by :meth:`close`.
        """
        if self.read_only:
            return self
        if self._index is not None:
            self._index.start()
        self._checkpointer.start()
        return self

    def _newest_seq(self, conn: sqlite3.Connection | None = None) -> int:
        """Return the highest seq ever given to a message (kept across delete-all)."""
        row = (
            (conn or self._writer)
            .execute("SELECT seq FROM sqlite_sequence WHERE name = 'messages'")
            .fetchone()
        )
        return int(row[0]) if row else 0

    def _text_has(
        self,
        segment: int,
        offset: int,
        raw_size: int,
        text_size: int,
        packed: int | None,
        needle: bytes,
    ) -> bool:
        """SQL function: tell whether a message's search text contains ``needle``."""
        text = self._text(segment, offset, raw_size, text_size, packed)
        return text is not None and needle in text

    def _text(
        self, segment: int, offset: int, raw_size: int, text_size: int, packed: int | None
    ) -> bytes | None:
        """Return a message's search text, None if its bytes are gone or damaged."""
        if packed is None:  # before version 4: the text follows the raw bytes as it is
            return self._blobs.read(segment, offset + raw_size, text_size)
        stored = self._blobs.read(segment, offset, packed)
        if stored is None:
            return None
        try:
            return text_from(stored, raw_size, packed)
        except UnpackError:
            return None

    def _connect(self) -> sqlite3.Connection:
        """Open a connection with the pragmas and functions every connection needs."""
        if self.read_only:
            conn = sqlite3.connect(
                f"{self.path.resolve().as_uri()}?mode=ro",
                uri=True,
                isolation_level=None,
                check_same_thread=False,
            )
        else:
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode = WAL")
        conn.execute(f"PRAGMA synchronous = {self._synchronous}")
        conn.execute("PRAGMA busy_timeout = 10000")
        conn.execute(f"PRAGMA mmap_size = {MMAP_BYTES}")
        conn.create_function("header_match", 3, header_matches, deterministic=True)
        conn.create_function("text_has", 6, self._text_has)
        with self._connections_lock:
            self._connections.append(conn)
        return conn

    def _migrate(self) -> None:
        """Create the schema in a new file, bring an older one forward; refuse others."""
        version = self._writer.execute("PRAGMA user_version").fetchone()[0]
        if version == SCHEMA_VERSION:
            return
        if self.read_only:
            raise RuntimeError(
                f"{self.path}: schema version {version}, not {SCHEMA_VERSION}: "
                "open it read-write once to bring it forward"
            )
        if version in _MIGRATIONS:
            with self._write_lock:
                steps = [_MIGRATIONS[v] for v in range(version, SCHEMA_VERSION) if _MIGRATIONS[v]]
                script = ["BEGIN", *steps, f"PRAGMA user_version = {SCHEMA_VERSION}", "COMMIT"]
                self._writer.executescript("; ".join(script) + ";")
            return
        if version != 0:
            hint = (
                "; version 1 was only written by development builds: move the file aside "
                "to start afresh"
                if version == 1
                else ""
            )
            raise RuntimeError(
                f"{self.path}: schema version {version} is not supported "
                f"(this mailsink reads version {SCHEMA_VERSION}){hint}"
            )
        with self._write_lock:
            self._writer.executescript(
                f"BEGIN; {_SCHEMA}; PRAGMA user_version = {SCHEMA_VERSION}; COMMIT;"
            )

    def _load_validity(self) -> int:
        """Read this file's UIDVALIDITY, giving it one (the current second) if it has none.

        It lives in a table of its own beside ``messages`` (created if missing,
        also in version 2 files, so no schema version change): ``clear()``
        keeps it, as it keeps the ``seq`` counter the UIDs come from.
        A read-only store only reads it (1 if the file has none yet).
        """
        if self.read_only:
            try:
                found = self._writer.execute(
                    "SELECT value FROM store_meta WHERE key = 'uidvalidity'"
                ).fetchone()
            except sqlite3.OperationalError:
                found = None
            return int(found[0]) if found else 1
        with self._write_lock:
            self._writer.execute(
                "CREATE TABLE IF NOT EXISTS store_meta (key TEXT PRIMARY KEY, value INTEGER)"
            )
            self._writer.execute(
                "INSERT OR IGNORE INTO store_meta (key, value) VALUES ('uidvalidity', ?)",
                (max(1, int(time.time()) & 0xFFFFFFFF),),
            )
            row = self._writer.execute(
                "SELECT value FROM store_meta WHERE key = 'uidvalidity'"
            ).fetchone()
        return int(row[0])

    @property
    def _reader(self) -> sqlite3.Connection:
        """Return this thread's read connection, opening it on first use."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._connect()
            if self._index is not None:
                self._index.attach(conn)
                self._local.generation = self._index.generation
            self._local.conn = conn
        elif self._index is not None and self._local.generation != self._index.generation:
            # The index file was rebuilt (deleted while running): attach the new one.
            with contextlib.suppress(sqlite3.Error):
                conn.execute("DETACH DATABASE idx")
            self._index.attach(conn)
            self._local.generation = self._index.generation
        return conn

    def _where(self, query: Query | None, run: Callable[[str, builtins.list[object]], _T]) -> _T:
        """Run a query through the text index, or by scanning if the index cannot be read.

        The index file may have been deleted a moment ago (see text_index.py):
        the search then scans while the index thread rebuilds it.
        """
        db = self._reader
        try:
            # Compiling reads the index too (how common a term's words are).
            where, params = compile_where(query, db if self._index is not None else None)
            return run(where, params)
        except sqlite3.OperationalError as error:
            if self._index is None or (
                "idx." not in str(error) and "no such table" not in str(error)
            ):
                raise
            self._index.notify()
            where, params = compile_where(query)
            return run(where, params)

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """Run the block in one write transaction: committed, or rolled back on error.

        Callers hold ``_write_lock`` around it, and update the cached counts
        after the block (only once the commit has succeeded), still under it.
        """
        db = self._writer
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
        self._checkpointer.written()

    def add(self, batch: builtins.list[Incoming]) -> builtins.list[str]:
        """Store the batch in one committed transaction; return the IDs pruned."""
        self._check_writable()
        rows = [self._row(item) for item in batch]
        texts = [text.encode("utf-8", "surrogatepass") for _values, text in rows]
        packs = [pack(item.raw, data) for item, data in zip(batch, texts, strict=True)]
        with self._write_lock:
            # The bytes first: a committed row must never point at bytes not written.
            segment, offsets = self._blobs.append([chunks for chunks, _packed in packs])
            records = [
                (
                    *values,
                    segment,
                    offset,
                    len(item.raw),
                    len(data),
                    len(text) > FTS_HEAD,
                    zlib.crc32(item.raw),
                    packed,
                )
                for item, (values, text), data, offset, (_chunks, packed) in zip(
                    batch, rows, texts, offsets, packs, strict=True
                )
            ]
            with self._transaction() as db:
                db.executemany(
                    "INSERT INTO messages (id, received, read, size, attachments, "
                    "inline_parts, tags, envelope, summary, s_subject, s_message_id, "
                    "s_from, s_from_addrs, s_to, s_to_addrs, s_cc, s_cc_addrs, s_bcc, "
                    "s_bcc_addrs, s_reply_to, s_reply_to_addrs, s_tags, s_headers, "
                    "segment, raw_offset, raw_size, text_size, text_long, raw_crc, packed) "
                    "VALUES (?,?,0,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    records,
                )
                pruned = self._prune_rows(len(batch))
                self._delete_rows(pruned)
            self._total += len(batch)
            self._unread += len(batch)
            stored = sum(len(chunk) for chunks, _packed in packs for chunk in chunks)
            self._ledger.added(segment, len(batch), stored)
            self._after_delete(pruned)
        if self._index is not None:
            self._index.notify()
        return [row[1] for row in pruned]

    def _row(self, item: Incoming) -> tuple[tuple[object, ...], str]:
        """Return the messages row values and the FTS text of an incoming message."""
        s = item.summary
        sender = (s.from_,) if s.from_ else ()
        headers = header_block(item.raw)
        record = StoredMessage(item.id, item.received, item.envelope, s, False, s.tags)
        values = (
            item.id,
            item.received,
            s.size,
            s.attachments,
            s.inline,
            _tags_text(s.tags),
            meta.pack(envelope_to_json(item.envelope), meta.ENVELOPE_DICT),
            meta.pack(summary_to_json(s), meta.SUMMARY_DICT),
            s.subject.lower(),
            s.message_id.lower(),
            address_text(sender),
            _addrs(sender),
            address_text(s.to),
            _addrs(s.to),
            address_text(s.cc),
            _addrs(s.cc),
            address_text(s.bcc),
            _addrs(s.bcc),
            address_text(s.reply_to),
            _addrs(s.reply_to),
            _tags_column(s.tags),
            headers,
        )
        return values, search_text(record)

    def _prune_rows(self, added: int) -> builtins.list[_Deleted]:
        """Return the _Deleted rows of the oldest messages beyond max_messages."""
        if not self.max_messages:
            return []
        excess = self._total + added - self.max_messages
        if excess <= 0:
            return []
        return self._writer.execute(
            f"SELECT {_DELETED_COLUMNS} FROM messages ORDER BY seq LIMIT ?", (excess,)
        ).fetchall()

    def _delete_rows(self, rows: builtins.list[_Deleted]) -> None:
        """Delete the messages of _Deleted rows in the caller's transaction.

        None is the usual case of an add (no pruning): an executemany of no rows
        still costs 5 us, so it is not made.
        """
        if not rows:
            return
        self._writer.executemany("DELETE FROM messages WHERE seq = ?", [(row[0],) for row in rows])

    def _after_delete(self, deleted: builtins.list[_Deleted]) -> None:
        """After a commit that deleted rows: fix the counts, drop unused segments and index rows.

        Call with ``_write_lock`` held.
        """
        if not deleted:
            return
        self._total -= len(deleted)
        self._unread -= sum(1 for row in deleted if not row[2])
        if self._index is not None:  # before their segments may go: the index needs the texts
            self._index.forget(self._indexed_heads(deleted))
        self._blobs.remove(self._ledger.removed((row[3], row[4]) for row in deleted))

    def _indexed_heads(self, deleted: builtins.list[_Deleted]) -> builtins.list[tuple[int, str]]:
        """Return (seq, indexed head) of deleted messages, for the text index to remove them.

        The index keeps no copy of the text (``text_index.py``), and removing a
        message from it takes the very text it indexed; the index skips the
        seqs it does not hold.
        """
        heads = []
        for seq, _id, _read, segment, _stored, offset, raw_size, text_size, packed in deleted:
            text = self._text(segment, offset, raw_size, text_size, packed)
            if text is not None:
                heads.append((seq, head_of(text)))
        return heads

    def _compact(self, segment: int) -> None:
        """Move a segment's live messages to the current segment, then delete its file.

        Same order as an add: the bytes are written, the rows that point at
        them commit, and only then does the old file go; a crash at any point
        leaves every message readable.  Call with ``_write_lock`` held.
        """
        rows = self._writer.execute(
            f"SELECT seq, raw_offset, {STORED_SIZE_SQL} FROM messages WHERE segment = ?",
            (segment,),
        ).fetchall()
        chunks = [self._blobs.read(segment, offset, size) for _seq, offset, size in rows]
        if not rows or any(chunk is None for chunk in chunks):
            return
        target, offsets = self._blobs.append([[chunk] for chunk in chunks if chunk is not None])
        with self._transaction() as db:
            db.executemany(
                "UPDATE messages SET segment = ?, raw_offset = ? WHERE seq = ?",
                [(target, at, row[0]) for row, at in zip(rows, offsets, strict=True)],
            )
        self._ledger.removed((segment, size) for _seq, _offset, size in rows)
        self._ledger.added(target, len(rows), sum(size for _seq, _offset, size in rows))
        # Searches from an older snapshot may still read the old place for a moment.
        self._blobs.remove([segment], grace=COMPACTED_GRACE)

    def get(self, message_id: str) -> StoredMessage | None:
        """Return the message with this ID, or None."""
        row = self._reader.execute(
            f"SELECT {reads.COLUMNS} FROM messages WHERE id = ?", (message_id,)
        ).fetchone()
        return reads.record(row) if row else None

    def raw(self, message_id: str) -> bytes | None:
        """Return the exact bytes received for this message, or None if there is no such message.

        Raises CorruptMessageError when the bytes are missing, short, or fail
        the row's checksum: damaged bytes are never served as the message.
        """
        for _attempt in range(5):  # a compaction may move the bytes between the two reads
            row = self._reader.execute(
                "SELECT segment, raw_offset, raw_size, raw_crc, packed FROM messages WHERE id = ?",
                (message_id,),
            ).fetchone()
            if row is None:
                return None
            segment, offset, size, crc, packed = row
            stored = self._blobs.read(segment, offset, size if packed is None else packed)
            if stored is not None:
                try:
                    data = raw_from(stored, size, packed)
                except UnpackError as error:
                    raise CorruptMessageError(message_id, f"does not decompress: {error}") from None
                if len(data) != size:
                    raise CorruptMessageError(message_id, f"{len(data)} of {size} bytes")
                if crc is not None and zlib.crc32(data) != crc:
                    raise CorruptMessageError(message_id, "checksum mismatch")
                return data
        raise CorruptMessageError(message_id, f"{size} bytes missing from segment {segment}")

    def list(self, start: int = 0, limit: int = 50, query: Query | None = None) -> Page:
        """Return messages newest first, optionally only those matching a query (``reads.py``)."""
        start, limit = clamp_page(start, limit)
        db = self._reader
        total, unread = self._total, self._unread
        if query is None or query.is_empty():
            rows = reads.newest_page(db, start, limit, total, self._dense)
            return Page([reads.record(r) for r in rows], total, unread, total, start, unread)
        rows, matched, matched_unread = self._where(
            query, lambda where, params: reads.search_page(db, where, params, start, limit)
        )
        return Page([reads.record(r) for r in rows], total, unread, matched, start, matched_unread)

    def ids(self, query: Query | None = None) -> builtins.list[str]:
        """Return the IDs of all messages (matching the query), newest first."""
        db = self._reader
        return self._where(
            query,
            lambda where, params: [
                r[0]
                for r in db.execute(
                    f"SELECT id FROM messages WHERE {where} ORDER BY seq DESC", params
                ).fetchall()
            ],
        )

    def matcher(self, query: Query) -> Callable[[StoredMessage], bool]:
        """Return a predicate that tells whether one of this store's records matches."""
        return compile_query(query, self.raw)

    def count(self) -> int:
        """Return the number of stored messages."""
        return int(self._total)

    def unread(self) -> int:
        """Return the number of unread messages."""
        return int(self._unread)

    def delete(self, ids: Iterable[str]) -> builtins.list[str]:
        """Delete these messages; return the IDs that existed.

        In chunks of WRITE_CHUNK, each its own transaction.  Segments the
        deletes leave more than half empty are compacted here, and the most
        wasteful ones once dead space passes a quarter of the store
        (``SegmentLedger.wasteful``); pruning is not: it removes the oldest
        first, which empties whole segments without copying anything.
        """
        self._check_writable()
        found: builtins.list[_Deleted] = []
        for chunk in _chunks(ids):
            with self._write_lock:
                self._dense = False  # before the commit: no reader may see holes as dense
                with self._transaction() as db:
                    rows = db.execute(
                        f"SELECT {_DELETED_COLUMNS} FROM messages WHERE id IN ({_marks(chunk)})",
                        chunk,
                    ).fetchall()
                    self._delete_rows(rows)
                self._after_delete(rows)
            found.extend(rows)
            _let_others_in()
        with self._write_lock:
            self._dense = self._seqs_dense()
            sparse = self._ledger.sparse((row[3] for row in found), self._blobs)
            candidates = sorted(set(sparse) | set(self._ledger.wasteful(self._blobs)))
        for segment in candidates:
            with self._write_lock:
                if segment in self._ledger and segment != self._blobs.current:
                    self._compact(segment)
            _let_others_in()
        order = {message_id: n for n, message_id in enumerate(dict.fromkeys(ids))}
        return sorted((row[1] for row in found), key=order.__getitem__)

    def _seqs_dense(self) -> bool:
        """Tell whether the seqs have no holes (deletes took only the newest or oldest)."""
        low, high = self._writer.execute(  # apart: together they scan the table
            "SELECT (SELECT min(seq) FROM messages), (SELECT max(seq) FROM messages)"
        ).fetchone()
        return not self._total or high - low + 1 == self._total

    def clear(self) -> int:
        """Delete every message; return how many there were."""
        self._check_writable()
        with self._write_lock, emptying.freeing_pages(self._writer):
            with self._transaction() as db:
                count = self._total
                newest = self._newest_seq()
                # Dropping and recreating the table is much faster than deleting
                # rows one by one.  The seq counter is put back: seqs are never
                # reused, so the text index cannot mistake a new message for an old.
                db.execute("DROP TABLE messages")
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        db.execute(statement)
                if newest:
                    db.execute(
                        "INSERT INTO sqlite_sequence (name, seq) VALUES ('messages', ?)",
                        (newest,),
                    )
            self._total = self._unread = 0
            self._dense = True
            self._ledger.clear()
            self._blobs.reset()
        self._checkpointer.written()  # the VACUUM wrote the small file into the WAL
        if self._index is not None:
            self._index.forget_all()
        return int(count)

    def set_read(self, ids: Iterable[str], read: bool) -> builtins.list[str]:
        """Mark messages read or unread; return the IDs whose flag changed (in chunks)."""
        self._check_writable()
        changed: builtins.list[str] = []
        flag = 1 if read else 0
        for chunk in _chunks(ids):
            with self._write_lock:
                with self._transaction() as db:
                    rows = db.execute(
                        f"UPDATE messages SET read = ? WHERE read != ? AND id IN ({_marks(chunk)}) "
                        "RETURNING id",
                        [flag, flag, *chunk],
                    ).fetchall()
                done = {row[0] for row in rows}
                changed.extend(message_id for message_id in chunk if message_id in done)
                self._unread += -len(done) if read else len(done)
            _let_others_in()
        return changed

    def set_tags(self, ids: Iterable[str], tags: Iterable[str]) -> builtins.list[str]:
        """Replace the tags of these messages; return the IDs that exist (WRITE_CHUNK at a time)."""
        self._check_writable()
        clean = normalize_tags(tags)
        found: builtins.list[str] = []
        for chunk in _chunks(ids):
            with self._write_lock, self._transaction() as db:
                rows = db.execute(
                    f"UPDATE messages SET tags = ?, s_tags = ? WHERE id IN ({_marks(chunk)}) "
                    "RETURNING id",
                    [_tags_text(clean), _tags_column(clean), *chunk],
                ).fetchall()
            done = {row[0] for row in rows}
            found.extend(message_id for message_id in chunk if message_id in done)
            _let_others_in()
        return found

    def _update_tags(self, new_tags: dict[str, tuple[str, ...]]) -> builtins.list[str]:
        """Write new tag tuples by message ID; return the IDs that exist (WRITE_CHUNK at a time)."""
        self._check_writable()
        found = []
        items = list(new_tags.items())
        for start in range(0, len(items), WRITE_CHUNK):
            with self._write_lock, self._transaction() as db:
                for message_id, tags in items[start : start + WRITE_CHUNK]:
                    cur = db.execute(
                        "UPDATE messages SET tags = ?, s_tags = ? WHERE id = ?",
                        (_tags_text(tags), _tags_column(tags), message_id),
                    )
                    if cur.rowcount:
                        found.append(message_id)
            _let_others_in()
        return found

    def _tagged(self, tag: str) -> builtins.list[tuple[str, tuple[str, ...]]]:
        """Return (id, tags) of messages carrying this tag (case-insensitive)."""
        rows = self._reader.execute(
            "SELECT id, tags FROM messages WHERE instr(s_tags, ?) > 0",
            (f"{SEP}{tag.lower()}{SEP}",),
        ).fetchall()
        return [(r[0], reads.tags_load(r[1])) for r in rows]

    def rename_tag(self, old: str, new: str) -> builtins.list[str]:
        """Rename a tag on every message; return the IDs changed."""
        return self._edit_tag(old, new)

    def delete_tag(self, tag: str) -> builtins.list[str]:
        """Remove a tag from every message; return the IDs changed."""
        return self._edit_tag(tag, None)

    def _edit_tag(self, old: str, new: str | None) -> builtins.list[str]:
        """Replace (or drop, when new is None) a tag everywhere; return the IDs changed."""
        updates = {}
        for message_id, tags in self._tagged(old):
            edited = edit_tag(tags, old, new)
            if edited is not None:
                updates[message_id] = edited
        return self._update_tags(updates)

    def tag_counts(self) -> dict[str, int]:
        """Return each tag in use with its number of messages (one grouped pass, ``reads.py``)."""
        return reads.tag_counts(self._reader)

    def tags(self) -> builtins.list[str]:
        """Return every tag in use, sorted case-insensitively."""
        rows = self._reader.execute("SELECT DISTINCT tags FROM messages WHERE tags != ''")
        found = normalize_tags(t for (text,) in rows for t in reads.tags_load(text))
        return sorted(found, key=str.lower)

    def put_relay(self, job: RelayJob) -> None:
        """Keep a relay job durably, replacing the one with its ID."""
        with self._write_lock:
            relay_table.put_relay(self._writer, job)
            self._checkpointer.written()

    def relays(self, message_id: str) -> builtins.list[RelayJob]:
        """Return the relay jobs of one message, oldest first."""
        return relay_table.relays(self._reader, message_id)

    def pending_relays(self) -> builtins.list[RelayJob]:
        """Return every relay job still pending, oldest first."""
        return relay_table.pending_relays(self._reader)

    def forget_relays(self, message_ids: Iterable[str] | None) -> None:
        """Drop the relay jobs of these messages (None: of every message)."""
        with self._write_lock:
            relay_table.forget_relays(self._writer, message_ids)

    def uids(self, query: Query | None = None, after: int = 0) -> builtins.list[tuple[int, str]]:
        """Return (uid, id) of the messages (matching) with uid > after, oldest first.

        The UID is the row's ``seq``: AUTOINCREMENT never reuses one, and
        ``clear()`` puts the counter back.
        """
        db = self._reader
        rows = self._where(
            query,
            lambda where, params: db.execute(
                f"SELECT seq, id FROM messages WHERE ({where}) AND seq > ? ORDER BY seq",
                [*params, int(after)],
            ).fetchall(),
        )
        return [(int(seq), str(message_id)) for seq, message_id in rows]

    def uid_validity(self) -> int:
        """Return this file's UIDVALIDITY (see :meth:`_load_validity`)."""
        return self._validity

    def close(self) -> None:
        """Close every connection (checkpointing the WAL) and file."""
        if self._index is not None:
            self._index.close()
        self._checkpointer.stop()
        with self._write_lock, self._connections_lock:
            for conn in self._connections:
                with contextlib.suppress(sqlite3.Error):
                    conn.close()
            self._connections.clear()
            self._blobs.close()
        if self._lock is not None:
            self._lock.release()

    def _check_writable(self) -> None:
        """Refuse a write to a store opened read-only."""
        if self.read_only:
            raise PermissionError(f"{self.path}: opened read-only")

    def disk_usage(self) -> int:
        """Return the bytes the store's files take: database, WALs, blob segments, index."""
        total = sum(self._blobs.size(segment) for segment in self._blobs.segments())
        for path in [self.path, *(Path(f"{self.path}{suffix}") for suffix in SIDE_FILES)]:
            with contextlib.suppress(FileNotFoundError):
                total += path.stat().st_size
        return total

    @property
    def text_index(self) -> TextIndex | None:
        """Return the text index, None when the store keeps none."""
        return self._index

    def wait_indexed(self, timeout: float = 10.0) -> bool:
        """Wait until every stored message is in the text index (tests, benchmarks).

        Searches never need this: messages not indexed yet are scanned.
        """
        return self._index is None or self._index.wait_indexed(
            self._newest_seq(self._reader), timeout
        )
