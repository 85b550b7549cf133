"""The tables of the PostgreSQL store, and creating or migrating them at start.

Every table lives in the first schema of the connection's ``search_path``
(``public`` unless the URL says ``options=-csearch_path=NAME``), so several
sinks can share one database in schemas of their own.  The schema version is
a row of ``mailsink_schema``; a database of a newer version than this code
knows is refused, never altered.  Nodes that start at once take an advisory
lock, so only one of them creates the tables.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import psycopg
from psycopg import sql

log = logging.getLogger(__name__)

SCHEMA_VERSION = 9

TEXT_HEAD = 4096
"""Characters of each search text under the trigram and word indexes (version 5); a longer
text is flagged ``long`` and checked whole by every search, as the SQLite store does."""

MIGRATE_LOCK = 1
PRUNE_LOCK = 2
COUNTS_LOCK = 3
INDEX_LOCK = 4
"""Second keys of the advisory locks; the first is ``hashtext(current_schema())``."""

_TABLES = """
CREATE TABLE mailsink_messages (
    id text COLLATE "C" PRIMARY KEY,
    uid bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
    received double precision NOT NULL,
    read boolean NOT NULL DEFAULT false,
    size integer NOT NULL,
    attachments integer NOT NULL,
    inline_parts integer NOT NULL,
    tags text[] NOT NULL,
    s_tags text[] NOT NULL,
    envelope bytea NOT NULL,
    summary bytea NOT NULL,
    s_subject text NOT NULL,
    s_message_id text NOT NULL,
    s_from text NOT NULL, s_from_addrs text[] NOT NULL,
    s_to text NOT NULL, s_to_addrs text[] NOT NULL,
    s_cc text NOT NULL, s_cc_addrs text[] NOT NULL,
    s_bcc text NOT NULL, s_bcc_addrs text[] NOT NULL,
    s_reply_to text NOT NULL, s_reply_to_addrs text[] NOT NULL,
    s_headers text NOT NULL,
    raw bytea NOT NULL
);
ALTER TABLE mailsink_messages ALTER COLUMN raw SET STORAGE EXTERNAL;
CREATE INDEX mailsink_messages_unread ON mailsink_messages (id) WHERE NOT read;
CREATE INDEX mailsink_messages_tagged ON mailsink_messages (tags) WHERE cardinality(tags) > 0;
CREATE INDEX mailsink_messages_received ON mailsink_messages (received);
CREATE TABLE mailsink_text_new (
    id text COLLATE "C" PRIMARY KEY REFERENCES mailsink_messages (id) ON DELETE CASCADE,
    search text NOT NULL
);
CREATE TABLE mailsink_text (
    id text COLLATE "C" PRIMARY KEY REFERENCES mailsink_messages (id) ON DELETE CASCADE,
    search text NOT NULL
);
CREATE TABLE mailsink_counts (
    total bigint NOT NULL,
    unread bigint NOT NULL
);
CREATE TABLE mailsink_relay_jobs (
    seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id text NOT NULL UNIQUE,
    message_id text NOT NULL,
    pending boolean NOT NULL,
    job text NOT NULL
);
CREATE INDEX mailsink_relay_jobs_message ON mailsink_relay_jobs (message_id);
CREATE INDEX mailsink_relay_jobs_pending ON mailsink_relay_jobs (seq) WHERE pending;
CREATE TABLE mailsink_schema (
    version integer NOT NULL,
    trigram boolean NOT NULL,
    uid_validity bigint NOT NULL
);
"""
"""Version 1.

``id`` sorts bytewise (``COLLATE "C"``): IDs begin with the time, so their
order is the order of arrival.  ``uid`` is the IMAP/POP3 UID, from the
table's identity sequence: shared by every node, never given twice, and kept
by ``TRUNCATE`` (delete-all); ``mailsink_schema.uid_validity`` is set once,
when the tables are made.  Two batches committing at the same moment (on two
nodes or two writers) may become visible in the other order than their
UIDs, for a moment; an IMAP client that fetched new mail in between sees the
lower UID only at its next full look.  The ``s_*`` columns are lowercased copies for
searching (``*_addrs`` the bare addresses, for exact matches).

The search text of each message (lowercased; ``store/match.py``'s
``search_text``) is in exactly one of two tables: ``mailsink_text_new``,
where ``add`` puts it, or ``mailsink_text``, which has the trigram index
(when ``pg_trgm`` is available) and to which the indexer (``text_index.py``)
moves it in batches.  Keeping the trigram index up took about 3 ms of a 1 KB
message's 3.5 ms in the add transaction; moved off it, the 250 no longer
waits for it.  Searches look in both tables: the new one is small and
scanned.  Every address is in the search text too, so address filters are
narrowed by the same index (a GIN index of their own cost a fifth of an
insert).  The raw
bytes are kept out of line uncompressed (``STORAGE EXTERNAL``): compressing
them cost more at ingest than the disk it saved.

``mailsink_relay_jobs`` keeps relay jobs as the JSON of
``store/relays.py``'s ``encode_job`` (delete-all leaves them: the relayer
forgets the jobs of deleted messages itself); its lease columns come with
version 2, in ``_UPGRADES``).

``mailsink_counts`` holds count deltas, one row per committed change, summed
on read and folded into one row now and then: a single counter row would be
a lock that every node's commits queue on."""

_UPGRADES = {
    2: """
ALTER TABLE mailsink_relay_jobs
    ADD COLUMN owner text,
    ADD COLUMN lease_until double precision NOT NULL DEFAULT 0,
    ADD COLUMN due double precision NOT NULL DEFAULT 0;
UPDATE mailsink_relay_jobs SET due = (job::json ->> 'next_at')::double precision WHERE pending;
DROP INDEX mailsink_relay_jobs_pending;
CREATE INDEX mailsink_relay_jobs_due ON mailsink_relay_jobs (due) WHERE pending;
""",
    3: """
CREATE FUNCTION mailsink_words(search text) RETURNS tsvector
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT array_to_tsvector(coalesce(array_agg(DISTINCT piece), '{}'))
    FROM regexp_split_to_table(search, '[^abcdefghijklmnopqrstuvwxyz0123456789]+') AS word,
    LATERAL (
        SELECT substr(word, start, 64) AS piece
        FROM generate_series(1, greatest(length(word) - 63, 1), 32) AS start
        UNION SELECT substr(word, greatest(length(word) - 63, 1), 64)
    ) AS pieces
    WHERE word <> ''
$$;
ALTER TABLE mailsink_text ADD COLUMN words tsvector;
UPDATE mailsink_text SET words = mailsink_words(search);
ALTER TABLE mailsink_text ALTER COLUMN words SET NOT NULL;
CREATE INDEX mailsink_text_words ON mailsink_text USING gin (words)
    WITH (gin_pending_list_limit = 16384);
CREATE TABLE mailsink_vocab (word text COLLATE "C" PRIMARY KEY);
INSERT INTO mailsink_vocab SELECT DISTINCT unnest(tsvector_to_array(words)) FROM mailsink_text;
CREATE INDEX mailsink_messages_read ON mailsink_messages (id) WHERE read;
""",
    4: """
CREATE OR REPLACE FUNCTION mailsink_words(search text) RETURNS tsvector
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN search !~ '[abcdefghijklmnopqrstuvwxyz0123456789]{65}' THEN
        array_to_tsvector(array_remove(
            regexp_split_to_array(search, '[^abcdefghijklmnopqrstuvwxyz0123456789]+'), ''))
    ELSE (
        SELECT array_to_tsvector(coalesce(array_agg(DISTINCT piece), '{}'))
        FROM regexp_split_to_table(search, '[^abcdefghijklmnopqrstuvwxyz0123456789]+') AS word,
        LATERAL (
            SELECT substr(word, start, 64) AS piece
            FROM generate_series(1, greatest(length(word) - 63, 1), 32) AS start
            UNION SELECT substr(word, greatest(length(word) - 63, 1), 64)
        ) AS pieces
        WHERE word <> ''
    ) END
$$;
""",
    5: f"""
ALTER TABLE mailsink_text ADD COLUMN long boolean NOT NULL DEFAULT false;
UPDATE mailsink_text SET long = true WHERE length(search) > {TEXT_HEAD};
CREATE INDEX mailsink_text_long ON mailsink_text (id) WHERE long;
DROP INDEX IF EXISTS mailsink_text_search;
""",
    6: "",  # lz4 for the texts, where the server has it: _compress_texts_with_lz4
    7: f"""
CREATE TABLE mailsink_long_text (
    id text COLLATE "C" PRIMARY KEY REFERENCES mailsink_messages (id) ON DELETE CASCADE,
    search text NOT NULL
);
ALTER TABLE mailsink_text_new ADD COLUMN long boolean NOT NULL DEFAULT false;
INSERT INTO mailsink_long_text SELECT id, search FROM mailsink_text WHERE long;
UPDATE mailsink_text SET search = left(search, {TEXT_HEAD}) WHERE long;
INSERT INTO mailsink_long_text
    SELECT id, search FROM mailsink_text_new WHERE length(search) > {TEXT_HEAD};
UPDATE mailsink_text_new SET search = left(search, {TEXT_HEAD}), long = true
    WHERE length(search) > {TEXT_HEAD};
DROP INDEX mailsink_text_long;
""",
    8: """
ALTER TABLE mailsink_text SET (toast_tuple_target = 128);
ALTER TABLE mailsink_text ALTER COLUMN search TYPE text USING search || '';
""",
    9: """
CREATE OR REPLACE FUNCTION mailsink_words(search text) RETURNS tsvector
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN search !~ '[abcdefghijklmnopqrstuvwxyz0123456789]{65}' THEN
        array_to_tsvector(array_remove(
            regexp_split_to_array(search, '[^abcdefghijklmnopqrstuvwxyz0123456789]+'), ''))
    ELSE (
        SELECT array_to_tsvector(coalesce(array_agg(piece), '{}'))
        FROM regexp_split_to_table(search, '[^abcdefghijklmnopqrstuvwxyz0123456789]+') AS word,
        LATERAL (
            SELECT substr(word, start, 64) AS piece
            FROM generate_series(1, greatest(length(word) - 63, 1), 32) AS start
            UNION ALL SELECT substr(word, greatest(length(word) - 63, 1), 64)
        ) AS pieces
        WHERE word <> ''
    ) END
$$;
""",
}
"""The steps from each version to the next: a new database is made as version 1, then stepped.

Version 2: relay jobs are leased by one node at a time (``relay_jobs.py``):
``owner`` is the node attempting the job until ``lease_until`` (the
database's clock, in seconds since the epoch), and ``due`` is when its next
attempt is (the job's ``next_at``), so nodes find due jobs by index.

Version 3: a word index beside the trigram index, for free text made of
letters and digits (``query.py``).  ``mailsink_text.words`` holds the
distinct words of the text (its runs of ASCII letters and digits; a run
longer than 64 is kept as pieces of 64 that overlap by 32, so every
substring of up to 32 characters is inside one), under a GIN index that
needs no recheck; ``mailsink_vocab`` every word ever indexed (under a trigram
index once ``pg_trgm`` is there), so that a term finds the words it is a
substring of: a common word's matches are then counted from the index
alone, where the trigram index rechecked each candidate's text.  Words are
not removed from ``mailsink_vocab`` when their mail goes (a word no text has
finds nothing).  ``mailsink_messages_read`` lists the read messages, so a
search's unread count subtracts those among its matches (new mail is
unread: nothing is added to it at ingest).

Version 4: the same words, made faster.  Version 3's ``mailsink_words``
cut every word into its pieces of 64 (a ``generate_series`` and a
``UNION`` per word): 2.7 ms of database CPU for a 2 KB text, most of what
the indexer spent on a message.  A text without a run longer than 64 (nearly
every one) now takes its words straight from the split, 0.33 ms;
``array_to_tsvector`` sorts them and drops the repeats.  Texts with a longer
run still go the old way, so the words of every text are what they were
(checked on 5,001 texts) and nothing indexed needs rebuilding.  The
vocabulary is still never pruned when mail goes: a word no text has any
more finds no text and only counts towards ``VOCAB_LIMIT`` (past which a term
falls back to the trigram index, with the same results); delete-all empties
it.

Version 5: only the head of a text (its first ``TEXT_HEAD`` characters) is
indexed, by trigrams and by words; a longer text is flagged ``long`` (under a
partial index) and every search also checks the long texts whole, so a term
past the head or across it is still found, as in the SQLite store.  Indexing
a whole 100 KB text had cost the database about 11 ms of CPU a message, far
more than storing it, and a long text's head is where its distinguishing words
are.  The trigram index becomes one on ``left(search, TEXT_HEAD)`` (rebuilt by
the upgrade); words of long texts indexed before stay as they were (more
words than the head's: a superset, and the whole text is checked anyway).

Version 6: search texts are compressed with lz4 (PostgreSQL 14 and newer,
when built with it; else they stay with pglz), which TOAST applies to a
text past about 2 KB.  pglz had cost the database 4.6 ms of CPU to store a
message with 155 KB of text, lz4 1.5 ms; raw bytes are not compressed at
all (``STORAGE EXTERNAL``, version 1).  Only new values are compressed so:
nothing is rewritten.

Version 7: a long text is stored whole, once, in ``mailsink_long_text`` when
its message is added, and only its head goes through ``mailsink_text_new``
to ``mailsink_text`` (flagged ``long``); searches check the long texts
there.  Moving whole 100 KB texts from one table to the other had cost the
database more than storing them (a delete and an insert of every TOAST
chunk).  The upgrade moves the long texts already stored.

Version 8: the texts' rows are narrow.  A search for a common word counts
its matches by visiting, for each, its row of ``mailsink_text``: the word
index needs no recheck, but PostgreSQL's bitmap scan (15.20, measured) still
reads every matching row's page.  A 2 KB message's row kept its search text or its
words compressed inline (1.3 KB each; the other toasted): six rows to a
page, so a word in 5% of a million texts read some 47,000 pages.  With
``toast_tuple_target = 128``, a row long enough to be toasted at all (past
about 2 KB) keeps both out of line and is about 90 bytes, 88 to a page:
11,400 pages for that word (on 100,000 texts: 4,759 buffers -> 1,142).
Shorter texts stay inline, as before (their rows are small anyway).  The
cost: the trigram index's recheck of a candidate reads its text from the
TOAST table, a few pages more.  The step rewrites the table and rebuilds
its indexes, so that the texts already indexed are narrowed too; the store
waits for it at start.

Version 9: the pieces of a text with a run longer than 64 are gathered with
``UNION ALL``, not ``UNION``: ``array_to_tsvector`` drops the repeats
anyway, and the ``UNION`` was a hashed aggregate set up again for every
word (``perf``: a third of the database's CPU under 100 KB mail of long
lines, ``benchmarks.postgres_ingest``).  The words are the same (a test
compares the two functions); a 4 KB text of 78-character lines took 0.76
ms, now 0.23; a text of ordinary words with one long token, 0.72 ms
either way.  Nothing indexed changes, so the step only replaces the
function."""

_TRIGRAM_INDEX = (
    f"CREATE INDEX mailsink_text_search ON mailsink_text USING gin "
    f"(left(search, {TEXT_HEAD}) {{opclass}}) WITH (gin_pending_list_limit = 16384)"
)
"""A 16 MB pending list (4 MB by default): merging bigger runs of new entries into the
index cut its cost per message by about 40% (measured with 32 MB), for a longer list that
each search also scans."""


@dataclass(frozen=True)
class Schema:
    """What the store learns from the tables at start."""

    trigram: bool
    """Whether the trigram index exists (else free text is found by scanning)."""
    uid_validity: int


def migrate(conn: psycopg.Connection[tuple[object, ...]]) -> Schema:
    """Create the tables if they are missing; refuse another version."""
    with conn.transaction():
        conn.execute(
            "SELECT pg_advisory_xact_lock(hashtext(current_schema()), %s)", (MIGRATE_LOCK,)
        )
        schema = conn.execute("SELECT current_schema()").fetchone()
        if schema is None or schema[0] is None:
            raise RuntimeError("PostgreSQL: the search_path names no schema to keep the tables in")
        exists = conn.execute("SELECT to_regclass('mailsink_schema') IS NOT NULL").fetchone()
        if exists and exists[0]:
            row = conn.execute("SELECT version FROM mailsink_schema").fetchone()
            version = int(row[0]) if row else 0  # type: ignore[call-overload]
            if 1 <= version < SCHEMA_VERSION:
                _upgrade(conn, version)
                log.info(
                    "upgraded the mailsink tables in schema %s from version %s to %s",
                    schema[0], version, SCHEMA_VERSION,
                )  # fmt: skip
            elif version != SCHEMA_VERSION:
                newer = version > SCHEMA_VERSION
                raise RuntimeError(
                    f"PostgreSQL schema {schema[0]!r}: mailsink schema version {version} "
                    + (
                        f"is newer than this mailsink knows ({SCHEMA_VERSION}): upgrade mailsink"
                        if newer
                        else f"is not supported (this mailsink reads version {SCHEMA_VERSION})"
                    )
                )
            found = conn.execute("SELECT trigram, uid_validity FROM mailsink_schema").fetchone()
            assert found is not None
            return Schema(bool(found[0]), int(found[1]))  # type: ignore[call-overload]
        conn.execute(_TABLES)
        for step in range(2, SCHEMA_VERSION + 1):
            conn.execute(_UPGRADES[step])
        _compress_texts_with_lz4(conn)
        trigram = _create_trigram_index(conn)
        validity = int(time.time()) & 0xFFFFFFFF or 1  # as SQLite's: the second it was made
        conn.execute(
            "INSERT INTO mailsink_schema (version, trigram, uid_validity) VALUES (%s, %s, %s)",
            (SCHEMA_VERSION, trigram, validity),
        )
        log.info("created mailsink tables (version %s) in schema %s", SCHEMA_VERSION, schema[0])
        return Schema(trigram, validity)


def _upgrade(conn: psycopg.Connection[tuple[object, ...]], version: int) -> None:
    """Bring tables of an older version up to this one, step by step (in migrate's transaction)."""
    row = conn.execute("SELECT trigram FROM mailsink_schema").fetchone()
    trigram = bool(row and row[0])
    for step in range(version + 1, SCHEMA_VERSION + 1):
        conn.execute(_UPGRADES[step])
        if step == 3 and trigram:
            _create_vocab_index(conn, _trigram_opclass(conn))
        if step == 5 and trigram:  # the index of the heads, in place of the whole texts'
            conn.execute(sql.SQL(_TRIGRAM_INDEX).format(opclass=_trigram_opclass(conn)))
    # lz4 for the texts (version 6) once every step is done: version 8's rewrite of
    # ``mailsink_text`` (a change of type) sets its column's compression back to the default.
    _compress_texts_with_lz4(conn)
    conn.execute("UPDATE mailsink_schema SET version = %s", (SCHEMA_VERSION,))


def _compress_texts_with_lz4(conn: psycopg.Connection[tuple[object, ...]]) -> bool:
    """Have TOAST compress new search texts with lz4; tell whether the server could.

    ``SET COMPRESSION`` is PostgreSQL 14's, and lz4 needs a server built with
    it: refused (in a savepoint), the texts keep pglz, which only costs CPU.
    """
    try:
        with conn.transaction():
            for table in ("mailsink_text_new", "mailsink_text", "mailsink_long_text"):
                conn.execute(
                    sql.SQL("ALTER TABLE {} ALTER COLUMN search SET COMPRESSION lz4").format(
                        sql.Identifier(table)
                    )
                )
        return True
    except psycopg.Error as error:
        log.info("search texts stay compressed with pglz: %s", error)
        return False


def _create_trigram_index(conn: psycopg.Connection[tuple[object, ...]]) -> bool:
    """Create ``pg_trgm`` (if allowed) and the trigram index; tell whether it worked.

    The extension goes into ``public`` where it can (an extension belongs to
    one schema of the database, and a sink's own schema may be dropped with
    it), and its operator class is named with its schema, wherever it is.
    """
    for create in (
        "CREATE EXTENSION IF NOT EXISTS pg_trgm SCHEMA public",
        "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    ):
        try:
            with conn.transaction():  # a savepoint: a refusal leaves the rest standing
                conn.execute(create)
            break
        except psycopg.Error as error:
            refusal = error
    else:
        log.warning("no trigram index (free text is searched by scanning): %s", refusal)
        return False
    opclass = _trigram_opclass(conn)
    with conn.transaction():
        conn.execute(sql.SQL(_TRIGRAM_INDEX).format(opclass=opclass))
        _create_vocab_index(conn, opclass)
    return True


def _create_vocab_index(
    conn: psycopg.Connection[tuple[object, ...]], opclass: sql.Composable
) -> None:
    """Index the vocabulary by trigrams, so that a term finds the words containing it."""
    conn.execute(
        sql.SQL(
            "CREATE INDEX mailsink_vocab_trigram ON mailsink_vocab USING gin (word {opclass})"
        ).format(opclass=opclass)
    )


def _trigram_opclass(conn: psycopg.Connection[tuple[object, ...]]) -> sql.Composable:
    """Return ``pg_trgm``'s GIN operator class, named with the schema it lives in."""
    row = conn.execute(
        "SELECT extnamespace::regnamespace::text FROM pg_extension WHERE extname = 'pg_trgm'"
    ).fetchone()
    return sql.SQL("{}.gin_trgm_ops").format(sql.Identifier(str(row[0]) if row else "public"))
