"""The PostgreSQL store: one database shared by any number of mailsink nodes.

``--store postgresql://user:pass@host:port/db`` (or ``postgres://``; what the
URL leaves out comes from libpq's ``PG*`` environment variables).  The nodes
hold no state of their own: any node accepts SMTP and serves every read.

Map
---
``schema.py``
    The tables, created or checked at start (versioned, under an advisory
    lock): ``mailsink_messages`` (one row per message: the raw bytes as
    ``bytea``, the envelope and summary as JSON, lowercased search columns,
    indexes on tags, unread and time); the search texts, in
    ``mailsink_text_new`` until they are moved to ``mailsink_text``, which
    has the trigram and word indexes (when ``pg_trgm`` can be created) that
    free text and address filters go through (of a long text only its head,
    the whole of it in ``mailsink_long_text``); ``mailsink_counts`` (count deltas, so
    that no single row is a lock every commit waits for); ``mailsink_schema``.
    Everything lives in the first schema of the ``search_path``.
``query.py``
    The search language compiled to SQL; header terms are narrowed in SQL and
    decided in Python, as the other stores decide them.
``store.py``
    :class:`PostgresStore`, the ``MessageStore`` contract over a connection
    pool (psycopg 3 and psycopg-pool).
``batch.py``
    The one statement that stores a batch (rows, texts, count delta, the
    ``new`` notification), the same text for every batch size.
``loop_conn.py``
    One async connection per event loop, for :meth:`PostgresStore.add_async`:
    the SMTP loop sends its batches itself, no writer thread in between.
``text_index.py``
    The thread that moves new texts under the trigram index in batches,
    one node at a time, so that the 250 never waits for the index.
``changes.py``
    Events across nodes: ``pg_notify`` in each write transaction, and the
    thread that ``LISTEN``s for the other nodes' notifications.
``counts.py``
    The message and unread counts as deltas, summed on read, folded now and then.
``relay_jobs.py``
    The relay jobs (``mailsink_relay_jobs``), each leased by one node at a
    time, so that a job is attempted once, not once per node.
``leader.py``
    Work one node at a time does (pruning, folding counts): advisory locks.
``conninfo.py``
    Naming the database a connection string points to, without its password.

How a 250 is made durable
-------------------------
:meth:`PostgresStore.add` stores a batch in one transaction (one statement,
``batch.py``, in autocommit: its own implicit transaction, one round trip);
it returns (and the listener answers 250) only after the server has
answered that the commit is done, so with the server's default
``synchronous_commit = on`` the message is in the WAL on the database's
disk (and on a synchronous standby, if the database has one).
A node killed with ``-9`` holds nothing that was acknowledged.  The SMTP
loop stores its messages with :meth:`PostgresStore.add_async` (the same
statement on the loop's own async connection, ``loop_conn.py``): while a
batch commits the loop keeps reading DATA, and what arrived meanwhile is the
next batch (``ingest.GroupCommit``), so concurrent sessions share a commit.
Costly messages and the send API go through the ingestor's writer threads
and :meth:`PostgresStore.add`.  When the database cannot be reached, an add
raises within ``timeout`` seconds and the session answers 451; the pool and
the loop's connection reconnect by themselves; a connection the server
spoke on while idle is checked (pool) or replaced (loop) before it is used
(``store.py``, ``_check_if_spoken``).

How events cross nodes
----------------------
Every write also sends ``pg_notify`` on the channel ``mailsink:<schema>``
with the node's name and what changed (IDs, the new read flag or tags).
Notifications are delivered on commit, in commit order, and only then.  The
listener thread of every other node turns them into the same events its
own mailbox publishes (``new`` carries the record, fetched by ID), through
:meth:`PostgresStore.follow`, which the :class:`~mailsink.mailbox.Mailbox`
calls for every store that offers it; a node ignores its own notifications,
which its mailbox has announced already.  After the feed reconnects it
publishes ``resync`` (changes may have been missed).

IDs and pruning
---------------
IDs are made by each node (time in the high bits, random below: unique
without coordination) and sort bytewise in the ``id`` column, which is the
listing order.  A node that hears of another's message moves its own clock
past that ID (:func:`mailsink.message.observe_id`), so causally later mail
always sorts later.  Pruning to ``--max-messages`` happens inside the add
transaction of whichever node holds the prune advisory lock; the others
skip it for that batch.  The ``--max-age`` sweep (``activity.Retention``)
takes the same lock (:meth:`PostgresStore.lead`), so one node sweeps.

Threads
-------
The SMTP loop writes (its own connection) and so do the ingestor's writer
threads (costly messages, the send API); web and listener threads read through
the pool (``POOL_SIZE`` connections at most, autocommit); one
``mailsink-listen`` thread per store holds its own connection in ``LISTEN``;
one ``mailsink-index`` thread moves texts under the index (through the pool).
Building a store connects nothing; :meth:`PostgresStore.start` opens the
pool, migrates and starts the listener; :meth:`PostgresStore.close` stops
them.
"""

from __future__ import annotations

from mailsink.store.postgres.conninfo import describe
from mailsink.store.postgres.store import PostgresStore

__all__ = ["PostgresStore", "describe"]
