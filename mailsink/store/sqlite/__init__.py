"""The SQLite store: a database, a folder of blob segments and a text index, kept up by two threads.

This docstring is the map; each module's own says why it is built the way it is.

Modules::

    store.py       SQLiteStore: the MessageStore contract, the schema, the write path
    blobs.py       BlobSegments, SegmentLedger: append-only files holding raw bytes and search text
    packing.py     pack(): a message's raw bytes and search text as one zlib stream in a segment
    meta.py        pack(): a row's summary and envelope JSON as small zlib streams (a preset
                   dictionary of the keys every row repeats)
    query.py       compile_where(): a search Query as a parameterised SQL condition
    words.py       how a searched value is found through the word index: its runs, their words
    reads.py       pages, one-pass searches and tag counts that stay fast at a million messages
    text_index.py  TextIndex: the FTS5 word index of free text and its vocabulary, in its own
                   database
    checkpoint.py  Checkpointer: WAL checkpoints off the ingest path; TRUNCATE when idle
    emptying.py    freeing_pages(): delete-all without zeroing freed pages, then VACUUM
    worker.py      Worker: the start()/stop() lifecycle of those two background threads
    lock.py        StoreLock: the OS file lock that gives one process at a time the files
    relays.py      the relay_jobs table (relay bookkeeping of the store contract)

Files on disk while running, for ``--store mail.db`` (eight names)::

    mail.db              the messages table: one row per message (envelope, summary, flags,
                         lowercased search columns, where its bytes are; envelope and
                         summary compressed, ``meta.py``)
    mail.db-wal          committed transactions not yet copied into mail.db
    mail.db-shm          the WAL's shared-memory index (32 KB per 4,096 pages of WAL)
    mail.db-blobs/       00000001.seg, 00000002.seg, ...: each message's raw bytes and
                         search text, compressed together (``packing.py``), appended;
                         a segment closes past 64 MB
    mail.db-index        the word index of each message's search text, without a copy
                         of the text, and the vocabulary of its words (derived data:
                         rebuilt from the messages when missing, damaged or ahead of them)
    mail.db-index-wal    its WAL
    mail.db-index-shm    its WAL's shared-memory index
    mail.db-lock         the store's lock (``flock``, held from open to close) and the
                         holder's process ID: a second process is refused at open.  It
                         stays after close; the kernel drops the lock of a killed process

The WAL files go when the last connection closes; an idle store truncates
them to zero bytes (``checkpoint.py``).  :meth:`SQLiteStore.disk_usage`
sums all of these files; ``/api/v1/info`` reports it as ``DatabaseSize``.

The write order that makes a 250 durable (:meth:`SQLiteStore.add`, under
the store's write lock)::

    1. append the batch's bytes to the current segment   one writev; fdatasync with
                                                         --store-sync full
    2. INSERT the rows that point at them, prune, COMMIT  one WAL transaction; its commit
                                                         is in the kernel's hands
                                                         (fsync too with --store-sync full)
    3. return: the mailbox publishes "new", the listener answers 250
    later, off that path: the index thread indexes the new rows; the checkpointer
    copies the WAL into mail.db and, once idle, truncates it

Each row keeps its bytes' length and CRC-32 (``raw_crc``, schema version 3;
a version 2 file gains the column when opened, NULL for the rows it held):
:meth:`SQLiteStore.raw` checks both and raises ``CorruptMessageError``
rather than serve damaged bytes.

A committed row never points at bytes not written; a crash between 1 and 2
leaves unreferenced bytes in a segment, never a lost message.  Deletes go
the other way round: the rows' delete commits, then segment files no row
needs are unlinked; a compaction copies the live bytes, commits the rows'
new place, and only then unlinks the old segment (after a grace period for
readers of older snapshots).

Threads::

    caller of add()      the SMTP event loop (small messages, batched across sessions) or
                         the mailsink-ingest writer thread (large ones; all of them with
                         --store-sync full), as ingest.py decides; one writer connection,
                         shared under the write lock with the web threads' deletes, flags
                         and tags
    web threads          read through a connection of their own each (the index ATTACHed)
    mailsink-index       TextIndex: reads rows above its mark and their text heads, writes
                         the index database in batches (its own two connections)
    mailsink-checkpoint  Checkpointer: PASSIVE checkpoints of mail.db 0.5 s after writes
                         (the index thread checkpoints its own database), TRUNCATE of both
                         WALs after 1 s without writes (its own connections)

Lifecycle: ``SQLiteStore(path)`` opens (or creates, or migrates) the files
and starts no thread, so tests can build and inspect one freely;
:meth:`SQLiteStore.start` starts the two threads, :meth:`SQLiteStore.close`
stops them and closes every file.  :func:`mailsink.store.open_store`
returns a started store.

A second reader of a store in use (a dump, an inspection) opens it with
``SQLiteStore(path, read_only=True)``: no lock, SQLite in ``mode=ro``, no
segment created or deleted, no migration, no index or checkpoint thread,
and every write raises PermissionError.  It cannot disturb the writer.
"""

from __future__ import annotations

from mailsink.store.sqlite.store import SQLiteStore

__all__ = ["SQLiteStore"]
