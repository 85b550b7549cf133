"""The PostgreSQL store: one database that several mailsink nodes share.

See the package docstring for the map (tables, durability, events, threads).
"""

from __future__ import annotations

import builtins
import dataclasses
import functools
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import TYPE_CHECKING, Any

import psycopg
from psycopg_pool import ConnectionPool, PoolTimeout

from mailsink.headers import header_block, is_utf8
from mailsink.message import Address, observe_id
from mailsink.store.base import (
    Incoming,
    Page,
    StoredMessage,
    clamp_page,
    count_tags,
    normalize_tags,
)
from mailsink.store.codec import (
    envelope_from_json,
    envelope_to_json,
    summary_from_json,
    summary_to_json,
)
from mailsink.store.match import address_text, compile_query, search_text
from mailsink.store.postgres import counts, leader, relay_jobs
from mailsink.store.postgres.batch import add_statement
from mailsink.store.postgres.changes import ChangeListener, Notice, payloads
from mailsink.store.postgres.conninfo import describe
from mailsink.store.postgres.loop_conn import AsyncConn, LoopConnections, readable
from mailsink.store.postgres.query import Where, compile_where
from mailsink.store.postgres.schema import PRUNE_LOCK, migrate
from mailsink.store.postgres.text_index import TextIndexer
from mailsink.store.relays import RelayJob

if TYPE_CHECKING:
    from mailsink.events import EventData, EventKind
    from mailsink.search import Query

Publish = Callable[["EventKind", "EventData"], object]
"""Where other nodes' changes go: :meth:`mailsink.events.EventBus.publish`."""

POOL_SIZE = 10
CONNECT_TIMEOUT = 5.0
"""Seconds a call waits for a connection before it fails (SMTP then answers 451)."""

_COLUMNS = "id, received, read, tags, envelope, summary"
_NOTIFY = "SELECT pg_notify(%s, %s)"
_SEARCH_TEXT = (
    "coalesce((SELECT search FROM mailsink_long_text t WHERE t.id = m.id), "
    "(SELECT search FROM mailsink_text_new t WHERE t.id = m.id), "
    "(SELECT search FROM mailsink_text t WHERE t.id = m.id), '')"
)

_PRUNE = (
    "DELETE FROM mailsink_messages WHERE id IN "
    "(SELECT id FROM mailsink_messages ORDER BY id LIMIT %s) RETURNING id, read"
)
"""Delete the oldest messages, as many as the parameter says."""

_DISTINCT_TAGS = (
    "WITH RECURSIVE sets AS ("
    "(SELECT tags FROM mailsink_messages WHERE cardinality(tags) > 0 ORDER BY tags LIMIT 1) "
    "UNION ALL SELECT (SELECT m.tags FROM mailsink_messages m WHERE cardinality(m.tags) > 0 "
    "AND m.tags > sets.tags ORDER BY m.tags LIMIT 1) FROM sets WHERE sets.tags IS NOT NULL) "
    "SELECT tags FROM sets WHERE tags IS NOT NULL"
)
"""The distinct sets of tags in use, one probe of ``mailsink_messages_tagged`` each."""

Row = tuple[Any, ...]


def _text(value: str) -> str:
    """Return text PostgreSQL accepts: no NUL characters, no lone surrogates."""
    if "\x00" in value:
        value = value.replace("\x00", "\ufffd")
    if not is_utf8(value):
        value = value.encode("utf-8", "replace").decode("utf-8")
    return value


def _json_bytes(text: str) -> bytes:
    """Return JSON text as bytes, byte-exact even with lone surrogates."""
    return text.encode("utf-8", "surrogatepass")


def _addrs(addresses: tuple[Address, ...]) -> list[str]:
    return [_text(a.address.lower()) for a in addresses]


def _row(item: Incoming) -> tuple[tuple[object, ...], tuple[str, str]]:
    """Return a message's row (``batch.MESSAGE_COLUMNS``) and its (ID, search text)."""
    s = item.summary
    sender = (s.from_,) if s.from_ else ()
    record = StoredMessage(item.id, item.received, item.envelope, s, False, s.tags)
    return (
        item.id,
        item.received,
        s.size,
        s.attachments,
        s.inline,
        [_text(t) for t in s.tags],
        [_text(t.lower()) for t in s.tags],
        _json_bytes(envelope_to_json(item.envelope)),
        _json_bytes(summary_to_json(s)),
        _text(s.subject.lower()),
        _text(s.message_id.lower()),
        _text(address_text(sender)),
        _addrs(sender),
        _text(address_text(s.to)),
        _addrs(s.to),
        _text(address_text(s.cc)),
        _addrs(s.cc),
        _text(address_text(s.bcc)),
        _addrs(s.bcc),
        _text(address_text(s.reply_to)),
        _addrs(s.reply_to),
        _text(header_block(item.raw)),
        item.raw,
    ), (item.id, _text(search_text(record)))


def _record(row: Row, text: str = "") -> StoredMessage:
    """Build a StoredMessage from a row of ``_COLUMNS``."""
    message_id, received, read, tags, envelope, summary = row[:6]
    return StoredMessage(
        id=str(message_id),
        received=float(received),
        envelope=envelope_from_json(bytes(envelope).decode("utf-8", "surrogatepass")),
        summary=summary_from_json(bytes(summary).decode("utf-8", "surrogatepass")),
        read=bool(read),
        tags=tuple(tags),
    )


def _check_if_spoken(conn: psycopg.Connection[Any]) -> None:
    """Check a pooled connection before it is lent, with a round trip only if the server spoke.

    An idle connection the server has said nothing on since it came back
    to the pool is lent as it is: checking every one with an empty query
    (psycopg_pool's ``check_connection``) was a third of each batch's
    path to the 250.  A server that shuts down or ends the session sends
    an error or closes the socket, which makes it readable: only then is
    the connection checked (and, if broken, discarded by the pool, which
    lends another).  A connection that breaks silently later fails its
    statement; the pool discards it when it comes back broken.
    """
    if conn.closed:
        raise psycopg.OperationalError("the connection is closed")
    if readable(conn.fileno()):
        ConnectionPool.check_connection(conn)


def _in_order(wanted: Iterable[str], found: Iterable[str]) -> builtins.list[str]:
    """Return the found IDs in the order they were asked for."""
    have = set(found)
    return [i for i in wanted if i in have]


class PostgresStore:
    """Keep messages in a PostgreSQL database that other mailsink nodes may share."""

    remote_commit = True
    """A commit is a network round trip: awaited on the loop (:meth:`add_async`), or on
    the ingestor's writer threads for costly messages (ingest.py)."""

    def __init__(
        self,
        conninfo: str,
        max_messages: int = 0,
        *,
        pool_size: int = POOL_SIZE,
        timeout: float = CONNECT_TIMEOUT,
        text_index: bool = True,
    ) -> None:
        """Prepare a store on the database ``conninfo`` names (a URL or libpq's key=value).

        Nothing connects until :meth:`start`.  ``text_index=False`` moves no
        text under the trigram index (tests use it to check the scan path).
        """
        self.conninfo = conninfo
        self.max_messages = max_messages
        self.timeout = timeout
        self._text_index = text_index
        self.node = secrets.token_hex(8)
        """This process's name in change notifications (its own are ignored)."""
        self._pool = ConnectionPool(
            conninfo,
            min_size=1,
            max_size=pool_size,
            open=False,
            timeout=timeout,
            kwargs={"autocommit": True, "connect_timeout": max(1, int(timeout))},
            check=_check_if_spoken,
            reconnect_timeout=365 * 86400.0,  # keep trying while the database is away
            name="mailsink",
        )
        self.trigram = False
        self._uid_validity = 0
        self.channel = ""
        self._followers: builtins.list[tuple[Publish, Callable[[str], bool] | None]] = []
        self._listener: ChangeListener | None = None
        self._indexer: TextIndexer | None = None
        self._loop_conns = LoopConnections(conninfo, timeout)
        """The event loops' own connections, for :meth:`add_async`."""
        self._writes = 0
        self._started = False
        self._lock = threading.Lock()

    # -- lifecycle -------------------------------------------------------------------

    def start(self) -> PostgresStore:
        """Connect, create or check the tables, and start listening to other nodes."""
        with self._lock:
            if self._started:
                return self
            try:
                self._pool.open(wait=True, timeout=self.timeout)
            except (psycopg.Error, PoolTimeout) as error:
                self._pool.close()
                raise RuntimeError(
                    f"cannot connect to PostgreSQL at {describe(self.conninfo)}: {error}"
                ) from None
            try:
                with self._pool.connection() as conn:
                    schema = migrate(conn)
                    self.trigram, self._uid_validity = schema.trigram, schema.uid_validity
                    row = conn.execute("SELECT current_schema()").fetchone()
                    self.channel = f"mailsink:{row[0] if row else 'public'}"
            except BaseException:
                self._pool.close()
                raise
            if self.trigram and self._text_index:
                self._indexer = TextIndexer(self._pool)
                self._indexer.start()
            self._listener = ChangeListener(
                self.conninfo, self.channel, self.node, self._on_notice, self.timeout
            )
            self._listener.start()
            self._started = True
        return self

    def close(self) -> None:
        """Stop listening and close every connection."""
        with self._lock:
            if self._listener is not None:
                self._listener.stop(wake=self._wake_listener)
                self._listener = None
            if self._indexer is not None:
                self._indexer.stop()
                self._indexer = None
            self._loop_conns.close()
            self._pool.close()
            self._started = False

    def _wake_listener(self) -> None:
        with self._pool.connection(timeout=1.0) as conn:
            conn.execute("SELECT pg_notify(%s, %s)", (self.channel, "{}"))

    @contextmanager
    def _conn(self) -> Iterator[psycopg.Connection[Row]]:
        """Lend a pooled connection (autocommit: each statement is its own transaction)."""
        with self._pool.connection() as conn:
            yield conn

    @contextmanager
    def _write(self) -> Iterator[psycopg.Connection[Row]]:
        """Lend a connection inside one transaction: committed at the end, or rolled back.

        In pipeline mode: statements whose results nobody reads yet go out
        together (each result read on the way costs a round trip more).
        """
        with self._pool.connection() as conn, conn.pipeline(), conn.transaction():
            yield conn
        self._wrote()

    def _wrote(self) -> None:
        """Count a committed write; fold the count deltas now and then."""
        self._writes += 1
        if self._writes % counts.FOLD_EVERY == 0:
            counts.fold(self._pool)

    async def _wrote_async(self, conn: AsyncConn) -> None:
        """Count a committed write from an event loop; fold there now and then."""
        self._writes += 1
        if self._writes % counts.FOLD_EVERY == 0:
            await counts.fold_async(conn)

    def _notify(
        self, conn: psycopg.Connection[Row], kind: str, ids: tuple[str, ...] = (), **kw: Any
    ) -> None:
        """Tell the other nodes of a change; delivered only if the transaction commits."""
        for payload in payloads(self.node, kind, ids, **kw):
            conn.execute(_NOTIFY, (self.channel, payload))

    async def _notify_async(self, conn: AsyncConn, kind: str, ids: tuple[str, ...]) -> None:
        """:meth:`_notify` on an event loop's connection."""
        for payload in payloads(self.node, kind, ids):
            await conn.execute(_NOTIFY, (self.channel, payload))

    # -- other nodes' changes ---------------------------------------------------------

    def follow(self, publish: Publish, listening: Callable[[str], bool] | None = None) -> None:
        """Publish the changes other nodes make (``publish(kind, data)``) from now on.

        While ``listening(kind)`` says no one would read a change of that kind,
        it is not published; for ``new``, other nodes' messages are then not
        fetched: with two nodes, fetching every message the other one
        received doubled each node's work per message.
        """
        self._followers.append((publish, listening))

    def _on_notice(self, notice: Notice) -> None:
        """Turn another node's change into events (on the listener thread)."""
        if notice.kind == "new":
            for message_id in notice.ids:
                observe_id(message_id)
            if self._indexer is not None:
                self._indexer.notify()  # any node may move the texts under the index
        followers = [
            publish
            for publish, listening in self._followers
            if listening is None or listening(notice.kind)
        ]
        if not followers:
            return
        for kind, data in self._events_of(notice):
            for publish in followers:
                publish(kind, data)

    def _events_of(self, notice: Notice) -> builtins.list[tuple[EventKind, EventData]]:
        """Return the events that announce another node's change."""
        from mailsink.events import Changed, Truncated

        if notice.kind == "new":
            return [("new", m) for m in self._fetch(notice.ids)]
        if notice.kind == "update":
            return [("update", Changed(notice.ids, read=notice.read, tags=notice.tags))]
        if notice.kind == "delete":
            return [("delete", Changed(notice.ids))]
        if notice.kind == "truncate":
            return [("truncate", Truncated(notice.count))]
        if notice.kind == "resync":
            return [("resync", None)]
        return []

    def _fetch(self, ids: tuple[str, ...]) -> builtins.list[StoredMessage]:
        """Return the records of these IDs, oldest first, with their search text filled in.

        The text lets :meth:`matcher` find free words in a message of another node.
        """
        with self._conn() as conn:
            rows = conn.execute(
                f"SELECT {_COLUMNS}, {_SEARCH_TEXT} FROM mailsink_messages m "
                "WHERE id = ANY(%s) ORDER BY id",
                (list(ids),),
            ).fetchall()
        records = []
        for row in rows:
            record = _record(row)
            record.summary = _with_text(record, str(row[6]))
            records.append(record)
        return records

    # -- writes -------------------------------------------------------------------------

    def add(self, batch: builtins.list[Incoming]) -> builtins.list[str]:
        """Store the batch in one committed transaction; return the IDs pruned.

        Without ``max_messages`` the batch is one statement (``batch.py``),
        committed on its own in autocommit; pruning reads the counts and the
        pruned IDs inside the transaction, so it takes an explicit one.
        """
        sql, params = self._add_statement(batch)
        pruned: builtins.list[str] = []
        if not self.max_messages:
            with self._conn() as conn:
                conn.execute(sql, params)
            self._wrote()
        else:
            with self._write() as conn:
                conn.execute(sql, params)
                pruned = self._prune(conn)
                if pruned:
                    self._notify(conn, "delete", tuple(pruned))
        if self._indexer is not None:
            self._indexer.notify()
        return pruned

    async def add_async(self, batch: builtins.list[Incoming]) -> builtins.list[str]:
        """Store the batch from an event loop, as :meth:`add` does; return the IDs pruned.

        The loop's own connection (``loop_conn.py``) carries the same
        statement: no thread is woken, and the loop serves other sessions
        while the commit is in flight.
        """
        sql, params = self._add_statement(batch)
        pruned: builtins.list[str] = []
        async with self._loop_conns.connection() as conn:
            if not self.max_messages:
                await conn.execute(sql, params)
            else:
                async with conn.transaction():
                    await conn.execute(sql, params)
                    pruned = await self._prune_async(conn)
                    if pruned:
                        await self._notify_async(conn, "delete", tuple(pruned))
            await self._wrote_async(conn)
        if self._indexer is not None:
            self._indexer.notify()
        return pruned

    def _add_statement(self, batch: builtins.list[Incoming]) -> tuple[str, builtins.list[object]]:
        """Return the one statement that stores a batch, its texts, counts and ``new`` notice."""
        rows = [_row(item) for item in batch]
        notices = list(payloads(self.node, "new", tuple(item.id for item in batch)))
        values = [row for row, _text in rows]
        return add_statement(values, [text for _row, (_id, text) in rows], self.channel, notices)

    async def _prune_async(self, conn: AsyncConn) -> builtins.list[str]:
        """:meth:`_prune` on an event loop's connection."""
        if not await leader.try_lock_async(conn, PRUNE_LOCK):
            return []  # another node prunes right now; the next add catches up
        excess = (await counts.read_async(conn))[0] - self.max_messages
        if excess <= 0:
            return []
        cursor = await conn.execute(_PRUNE, (excess,))
        rows = await cursor.fetchall()
        await counts.add_delta_async(conn, -len(rows), -sum(1 for r in rows if not r[1]))
        return sorted(str(r[0]) for r in rows)

    def _prune(self, conn: psycopg.Connection[Row]) -> builtins.list[str]:
        """Delete the oldest messages beyond max_messages, if no other node is pruning."""
        if not self.max_messages:
            return []
        if not leader.try_lock(conn, PRUNE_LOCK):
            return []  # another node prunes right now; the next add catches up
        excess = counts.read(conn)[0] - self.max_messages
        if excess <= 0:
            return []
        rows = conn.execute(_PRUNE, (excess,)).fetchall()
        counts.add_delta(conn, -len(rows), -sum(1 for r in rows if not r[1]))
        return sorted(str(r[0]) for r in rows)

    def delete(self, ids: Iterable[str]) -> builtins.list[str]:
        """Delete these messages; return the IDs that existed."""
        wanted = list(dict.fromkeys(ids))
        if not wanted:
            return []
        with self._write() as conn:
            rows = conn.execute(
                "DELETE FROM mailsink_messages WHERE id = ANY(%s) RETURNING id, read", (wanted,)
            ).fetchall()
            counts.add_delta(conn, -len(rows), -sum(1 for r in rows if not r[1]))
            deleted = _in_order(wanted, (str(r[0]) for r in rows))
            self._notify(conn, "delete", tuple(deleted))
        return deleted

    def clear(self) -> int:
        """Delete every message; return how many there were."""
        with self._write() as conn:
            count = counts.read(conn)[0]
            conn.execute(
                "TRUNCATE mailsink_messages, mailsink_counts, mailsink_text, mailsink_text_new, "
                "mailsink_long_text, mailsink_vocab"
            )
            self._notify(conn, "truncate", count=count)
        return count

    def set_read(self, ids: Iterable[str], read: bool) -> builtins.list[str]:
        """Mark messages read or unread; return the IDs whose flag changed."""
        wanted = list(dict.fromkeys(ids))
        if not wanted:
            return []
        with self._write() as conn:
            rows = conn.execute(
                "UPDATE mailsink_messages SET read = %s WHERE id = ANY(%s) AND read != %s "
                "RETURNING id",
                (read, wanted, read),
            ).fetchall()
            changed = _in_order(wanted, (str(r[0]) for r in rows))
            counts.add_delta(conn, 0, -len(changed) if read else len(changed))
            if changed:
                self._notify(conn, "update", tuple(changed), read=read)
        return changed

    def set_tags(self, ids: Iterable[str], tags: Iterable[str]) -> builtins.list[str]:
        """Replace the tags of these messages; return the IDs that exist."""
        clean = normalize_tags(tags)
        wanted = list(dict.fromkeys(ids))
        if not wanted:
            return []
        with self._write() as conn:
            rows = conn.execute(
                "UPDATE mailsink_messages SET tags = %s, s_tags = %s WHERE id = ANY(%s) "
                "RETURNING id",
                ([_text(t) for t in clean], [_text(t.lower()) for t in clean], wanted),
            ).fetchall()
            found = _in_order(wanted, (str(r[0]) for r in rows))
            if found:
                self._notify(conn, "update", tuple(found), tags=clean)
        return found

    def _edit_tag(
        self, tag: str, edit: Callable[[tuple[str, ...]], tuple[str, ...]]
    ) -> builtins.list[str]:
        """Rewrite the tags of every message carrying ``tag``; return the IDs changed."""
        with self._write() as conn:
            rows = conn.execute(
                "SELECT id, tags FROM mailsink_messages WHERE cardinality(tags) > 0 "
                "AND s_tags @> ARRAY[%s]::text[] ORDER BY id FOR UPDATE",
                (tag.lower(),),
            ).fetchall()
            updates = [(str(r[0]), edit(tuple(r[1]))) for r in rows]
            with conn.cursor() as cur:
                cur.executemany(
                    "UPDATE mailsink_messages SET tags = %s, s_tags = %s WHERE id = %s",
                    [
                        ([_text(t) for t in new], [_text(t.lower()) for t in new], message_id)
                        for message_id, new in updates
                    ],
                )
            changed = tuple(message_id for message_id, _new in updates)
            if changed:
                self._notify(conn, "update", changed)
        return list(changed)

    def rename_tag(self, old: str, new: str) -> builtins.list[str]:
        """Rename a tag on every message; return the IDs changed."""
        wanted = old.lower()
        return self._edit_tag(
            old, lambda tags: normalize_tags(new if t.lower() == wanted else t for t in tags)
        )

    def delete_tag(self, tag: str) -> builtins.list[str]:
        """Remove a tag from every message; return the IDs changed."""
        wanted = tag.lower()
        return self._edit_tag(tag, lambda tags: tuple(t for t in tags if t.lower() != wanted))

    # -- reads --------------------------------------------------------------------------

    def get(self, message_id: str) -> StoredMessage | None:
        """Return the message with this ID, or None."""
        with self._conn() as conn:
            row = conn.execute(
                f"SELECT {_COLUMNS} FROM mailsink_messages WHERE id = %s", (message_id,)
            ).fetchone()
        return _record(row) if row else None

    def raw(self, message_id: str) -> bytes | None:
        """Return the exact bytes received for this message, or None."""
        with self._conn() as conn:
            row = conn.execute(
                "SELECT raw FROM mailsink_messages WHERE id = %s", (message_id,)
            ).fetchone()
        return bytes(row[0]) if row else None

    def list(self, start: int = 0, limit: int = 50, query: Query | None = None) -> Page:
        """Return messages newest first, optionally only those matching a query."""
        start, limit = clamp_page(start, limit)
        with self._conn() as conn:
            where = compile_where(query, self.trigram, _vocab(conn))
            total, unread = counts.read(conn)
            if where.headers:
                ids = self._filtered_ids(conn, where)
                matched = len(ids)
                page_ids = ids[start : start + limit]
                rows = conn.execute(
                    f"SELECT {_COLUMNS} FROM mailsink_messages WHERE id = ANY(%s) ORDER BY id DESC",
                    (page_ids,),
                ).fetchall()
            elif where.hits is not None:
                return self._word_page(conn, where, start, limit, total, unread)
            elif where.sql == "true":
                # The page's IDs first (an index-only scan of the primary key), then
                # only those rows: an OFFSET over whole rows read every skipped row
                # from the table (half-way into 47,000: 80 ms, now 22).
                rows = conn.execute(
                    f"SELECT {_COLUMNS} FROM mailsink_messages WHERE id IN "
                    "(SELECT id FROM mailsink_messages ORDER BY id DESC LIMIT %s OFFSET %s) "
                    "ORDER BY id DESC",
                    (limit, start),
                ).fetchall()
                return Page([_record(r) for r in rows], total, unread, total, start, unread)
            else:
                # One pass over the matches (a search through the trigram index is
                # the costly part): their number, how many are unread, the page's IDs.
                found = conn.execute(
                    "WITH hits AS MATERIALIZED "
                    f"(SELECT id, read FROM mailsink_messages WHERE {where.sql}) "
                    "SELECT (SELECT count(*) FROM hits), "
                    "(SELECT count(*) FROM hits WHERE NOT read), "
                    "ARRAY(SELECT id FROM hits ORDER BY id DESC LIMIT %s OFFSET %s)",
                    [*where.params, limit, start],
                ).fetchone()
                assert found is not None
                matched, matched_unread, page_ids = int(found[0]), int(found[1]), found[2]
                rows = conn.execute(
                    f"SELECT {_COLUMNS} FROM mailsink_messages WHERE id = ANY(%s) ORDER BY id DESC",
                    (builtins.list(page_ids),),
                ).fetchall()
                records = [_record(r) for r in rows]
                return Page(records, total, unread, matched, start, matched_unread)
        return Page([_record(r) for r in rows], total, unread, matched, start)

    def _word_page(
        self,
        conn: psycopg.Connection[Row],
        where: Where,
        start: int,
        limit: int,
        total: int,
        unread: int,
    ) -> Page:
        """Return a page of a search the word index answers, counted from the text tables alone.

        The word index needs no recheck, so the matches are counted without
        reading a text or a message row (the trigram path rechecked each
        candidate's text and looked its message up for the read flag: a
        common word at 250,000 messages took 426 ms).  The unread matches are
        the matches less the read ones among them (``mailsink_messages_read``).
        """
        found = conn.execute(
            f"WITH hits AS MATERIALIZED ({where.hits}) "
            "SELECT (SELECT count(*) FROM hits), "
            + (
                "(SELECT count(*) FROM mailsink_messages m JOIN hits USING (id) WHERE m.read), "
                if unread < total
                else "0, "
            )
            + "ARRAY(SELECT id FROM hits ORDER BY id DESC LIMIT %s OFFSET %s)",
            [*where.hits_params, limit, start],
        ).fetchone()
        assert found is not None
        matched, read, page_ids = int(found[0]), int(found[1]), builtins.list(found[2])
        rows = conn.execute(
            f"SELECT {_COLUMNS} FROM mailsink_messages WHERE id = ANY(%s) ORDER BY id DESC",
            (page_ids,),
        ).fetchall()
        return Page([_record(r) for r in rows], total, unread, matched, start, matched - read)

    def _filtered_ids(self, conn: psycopg.Connection[Row], where: Where) -> builtins.list[str]:
        """Return the IDs matching a condition with header terms, newest first."""
        rows = conn.execute(
            f"SELECT id, s_headers FROM mailsink_messages WHERE {where.sql} ORDER BY id DESC",
            where.params,
        )
        return [str(r[0]) for r in rows if where.keeps(str(r[1]))]

    def ids(self, query: Query | None = None) -> builtins.list[str]:
        """Return the IDs of all messages (matching the query), newest first."""
        with self._conn() as conn:
            where = compile_where(query, self.trigram, _vocab(conn))
            if where.headers:
                return self._filtered_ids(conn, where)
            rows = conn.execute(
                f"SELECT id FROM mailsink_messages WHERE {where.sql} ORDER BY id DESC",
                where.params,
            ).fetchall()
        return [str(r[0]) for r in rows]

    def uids(self, query: Query | None = None, after: int = 0) -> builtins.list[tuple[int, str]]:
        """Return (uid, id) of the messages (matching) with uid > after, oldest first."""
        with self._conn() as conn:
            where = compile_where(query, self.trigram, _vocab(conn))
            columns = "uid, id, s_headers" if where.headers else "uid, id"
            rows = conn.execute(
                f"SELECT {columns} FROM mailsink_messages WHERE ({where.sql}) AND uid > %s "
                "ORDER BY uid",
                [*where.params, int(after)],
            ).fetchall()
        if where.headers:
            rows = [r for r in rows if where.keeps(str(r[2]))]
        return [(int(r[0]), str(r[1])) for r in rows]

    def uid_validity(self) -> int:
        """Return the UIDVALIDITY set when the tables were made (``schema.py``)."""
        return self._uid_validity

    def matcher(self, query: Query) -> Callable[[StoredMessage], bool]:
        """Return a predicate that tells whether one of this store's records matches."""
        return compile_query(query, self.raw)

    def count(self) -> int:
        """Return the number of stored messages."""
        with self._conn() as conn:
            return counts.read(conn)[0]

    def unread(self) -> int:
        """Return the number of unread messages."""
        with self._conn() as conn:
            return counts.read(conn)[1]

    def tags(self) -> builtins.list[str]:
        """Return every tag in use, sorted case-insensitively.

        Every list and search response carries this, so it must not read every
        tagged message: it walks the index of tagged messages (``tags``) from one
        distinct set of tags to the next (a loose index scan, one probe each),
        as ``SELECT DISTINCT`` would not.
        """
        with self._conn() as conn:
            rows = conn.execute(_DISTINCT_TAGS).fetchall()
        found = normalize_tags(t for (tags,) in rows for t in tags)
        return sorted(found, key=str.lower)

    def tag_counts(self) -> dict[str, int]:
        """Return each tag in use with its number of messages, grouping rows by their tags.

        The rows are counted from the index of tagged messages alone, by this
        backend: the planner chose two parallel workers for it, whose start
        cost more than the scan (30,000 tagged of 1,000,000: 18 to 30 ms with
        them, 9 to 17 without).
        """
        with self._conn() as conn, conn.transaction():
            conn.execute("SET LOCAL max_parallel_workers_per_gather = 0")
            rows = conn.execute(
                "SELECT tags, count(*) FROM mailsink_messages "
                "WHERE cardinality(tags) > 0 GROUP BY tags"
            ).fetchall()
        return count_tags(((tags, n) for tags, n in rows), self.tags())

    def put_relay(self, job: RelayJob) -> None:
        """Keep a relay job durably, replacing the one with its ID; this node's lease ends."""
        with self._conn() as conn:
            relay_jobs.put(conn, job, self.node)

    def claim_relay(self, job: RelayJob, seconds: float) -> None:
        """Keep a new relay job as this node's for ``seconds`` (:class:`RelayLeases`)."""
        with self._conn() as conn:
            relay_jobs.claim(conn, job, self.node, seconds)

    def take_relays(self, seconds: float, limit: int) -> builtins.list[RelayJob]:
        """Lease due pending jobs no live lease holds to this node (:class:`RelayLeases`)."""
        with self._conn() as conn:
            return relay_jobs.take(conn, self.node, time.time(), seconds, limit)

    def relays(self, message_id: str) -> builtins.list[RelayJob]:
        """Return the relay jobs of one message, oldest first."""
        with self._conn() as conn:
            return relay_jobs.of_message(conn, message_id)

    def pending_relays(self) -> builtins.list[RelayJob]:
        """Return every relay job still pending, oldest first."""
        with self._conn() as conn:
            return relay_jobs.pending(conn)

    def forget_relays(self, message_ids: Iterable[str] | None) -> None:
        """Drop the relay jobs of these messages (None: of every message)."""
        with self._conn() as conn:
            relay_jobs.forget(conn, message_ids)

    def disk_usage(self) -> int:
        """Return the bytes this store's tables (with indexes and TOAST) take in the database."""
        with self._conn() as conn:
            row = conn.execute(
                "SELECT sum(pg_total_relation_size(c.oid))::bigint FROM pg_class c "
                "WHERE c.relname IN ('mailsink_messages', 'mailsink_counts', 'mailsink_schema', "
                "'mailsink_text', 'mailsink_text_new', 'mailsink_long_text', "
                "'mailsink_relay_jobs', 'mailsink_vocab') "
                "AND c.relnamespace = current_schema()::regnamespace"
            ).fetchone()
        return int(row[0] or 0) if row else 0

    def wait_indexed(self, timeout: float = 60.0) -> bool:
        """Wait until every message's text is under the trigram index (tests, benchmarks).

        Searches never need this: texts not indexed yet are scanned.
        """
        return self._indexer is None or self._indexer.wait_indexed(timeout)

    def lead(self, work: str) -> AbstractContextManager[bool]:
        """Hold the right to do ``work`` (``"prune"``) for a ``with`` block, if no node has it.

        Yields False when another node holds it: that node does the work.
        """
        return leader.lead(self._pool, work)

    def ready(self) -> bool:
        """Tell whether the database answers now (``/readyz``)."""
        try:
            self.count()
        except Exception:  # noqa: BLE001 - any failure means "not ready"
            return False
        return True


VOCAB_LIMIT = 200
"""The most indexed words a term may be part of for the word index to answer it."""


def _vocab(conn: psycopg.Connection[Row]) -> Callable[[str], bool]:
    """Return a check that at most ``VOCAB_LIMIT`` indexed words are ``LIKE`` a pattern.

    Past that, the term is looked for through the trigram index of the
    texts instead (a word index query of thousands of words is slower).
    One check per pattern and query: ``compile_where`` asks it of a term
    twice (for the word-index page and for the term's clause), the cache
    makes that one round trip.
    """

    @functools.cache
    def few(pattern: str) -> bool:
        row = conn.execute(
            "SELECT count(*) FROM (SELECT FROM mailsink_vocab WHERE word LIKE %s LIMIT %s) w",
            (pattern, VOCAB_LIMIT + 1),
        ).fetchone()
        return row is not None and int(row[0]) <= VOCAB_LIMIT

    return few


def _with_text(record: StoredMessage, text: str) -> Any:
    """Return the record's summary with ``text`` as its text (for :meth:`matcher`)."""
    return dataclasses.replace(record.summary, text=text)
