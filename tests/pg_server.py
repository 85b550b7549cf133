"""Start a real PostgreSQL server for the tests: ``initdb`` into a temporary folder, ``pg_ctl``.

Debian's ``postgresql`` package (installed by ``scripts/test``) provides the
binaries.  PostgreSQL refuses to run as root, and the tests run as root in
CI, so the server's folder belongs to the ``postgres`` user and the
commands run as that user (as the current user otherwise).  The server
listens on a free loopback port (TCP only, no socket file) and trusts local
connections: it lives only as long as the test session.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

SUPERUSER = "mailsink"


def _bin_dir() -> Path:
    """Return the folder of the newest installed PostgreSQL's server binaries."""
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4])
    )
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    if initdb is None:
        raise RuntimeError("PostgreSQL is not installed (Debian: apt-get install postgresql)")
    return Path(initdb).parent


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class PostgresServer:
    """A PostgreSQL server in a temporary folder, on a free loopback port."""

    folder: Path
    port: int = 0
    settings: tuple[str, ...] = ()
    """More ``name=value`` server settings (the benchmarks' production-like ones)."""

    @property
    def data(self) -> Path:
        return self.folder / "data"

    def url(self, database: str = "postgres") -> str:
        """Return the URL of a database on this server."""
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def _run(self, *command: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        prefix: list[str] = []
        if os.geteuid() == 0:
            prefix = ["runuser", "-u", "postgres", "--"]
        return subprocess.run(
            [*prefix, *command], check=check, capture_output=True, text=True, timeout=120
        )

    def init(self) -> None:
        """Create the cluster (``initdb``)."""
        self.data.mkdir(parents=True)
        if os.geteuid() == 0:
            user = pwd.getpwnam("postgres")
            for path in (self.folder, self.data):
                os.chown(path, user.pw_uid, user.pw_gid)
        self._run(
            str(_bin_dir() / "initdb"),
            "-D", str(self.data),
            "-U", SUPERUSER,
            "--auth=trust",
            "-E", "UTF8",
            "--locale=C.UTF-8",
            "--no-sync",
        )  # fmt: skip

    def start(self) -> None:
        """Start (or restart after :meth:`stop`) the server on a free port, and wait for it."""
        for _attempt in range(5):
            self.port = self.port or _free_port()
            options = (
                f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories='' "
                "-c max_connections=200 -c shared_buffers=64MB"
            ) + "".join(f" -c {setting}" for setting in self.settings)
            done = self._run(
                str(_bin_dir() / "pg_ctl"),
                "-D", str(self.data),
                "-o", options,
                "-l", str(self.folder / "server.log"),
                "-w", "-t", "60",
                "start",
                check=False,
            )  # fmt: skip
            if done.returncode == 0:
                return
            self.port = 0  # the port was taken in between: try another
            time.sleep(0.2)
        raise RuntimeError(f"PostgreSQL did not start: {done.stderr}\n{self.log()}")

    def stop(self, mode: str = "fast") -> None:
        """Stop the server (``fast``: disconnect clients; ``immediate``: like a crash)."""
        self._run(
            str(_bin_dir() / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop", check=False
        )

    def log(self) -> str:
        """Return the server's log."""
        path = self.folder / "server.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def remove(self) -> None:
        """Stop the server and delete its folder."""
        self.stop("immediate")
        shutil.rmtree(self.folder, ignore_errors=True)


def start_server(settings: tuple[str, ...] = ()) -> PostgresServer:
    """Create and start a server in a new temporary folder, with more ``settings`` if given."""
    server = PostgresServer(Path(tempfile.mkdtemp(prefix="mailsink-pg-")), settings=settings)
    try:
        server.init()
        server.start()
    except BaseException:
        shutil.rmtree(server.folder, ignore_errors=True)
        raise
    return server


UNDO_VERSION_3 = (
    "DROP INDEX mailsink_messages_read; DROP TABLE mailsink_vocab; "
    "DROP INDEX mailsink_text_words; ALTER TABLE mailsink_text DROP COLUMN words; "
    "DROP FUNCTION mailsink_words(text)"
)
"""SQL that takes a store's tables back from schema version 3 to 2 (migration tests)."""

UNDO_VERSION_4 = """
CREATE OR REPLACE FUNCTION mailsink_words(search text) RETURNS tsvector
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
UPDATE mailsink_schema SET version = 3;
"""
"""SQL that takes a store's tables back from schema version 4 to 3 (migration tests)."""

UNDO_VERSION_5 = """
DROP INDEX mailsink_text_long;
ALTER TABLE mailsink_text DROP COLUMN long;
DROP INDEX IF EXISTS mailsink_text_search;
CREATE INDEX mailsink_text_search ON mailsink_text USING gin (search public.gin_trgm_ops)
    WITH (gin_pending_list_limit = 16384);
UPDATE mailsink_schema SET version = 4;
"""
"""SQL that takes a store's tables back from schema version 5 to 4 (migration tests)."""

UNDO_VERSION_6 = """
ALTER TABLE mailsink_text_new ALTER COLUMN search SET COMPRESSION pglz;
ALTER TABLE mailsink_text ALTER COLUMN search SET COMPRESSION pglz;
UPDATE mailsink_schema SET version = 5;
"""
"""SQL that takes a store's tables back from schema version 6 to 5 (migration tests)."""

UNDO_VERSION_7 = """
UPDATE mailsink_text t SET search = l.search FROM mailsink_long_text l WHERE l.id = t.id;
UPDATE mailsink_text_new t SET search = l.search FROM mailsink_long_text l WHERE l.id = t.id;
ALTER TABLE mailsink_text_new DROP COLUMN long;
DROP TABLE mailsink_long_text;
CREATE INDEX mailsink_text_long ON mailsink_text (id) WHERE long;
UPDATE mailsink_schema SET version = 6;
"""
"""SQL that takes a store's tables back from schema version 7 to 6 (migration tests)."""

UNDO_VERSION_8 = """ALTER TABLE mailsink_text RESET (toast_tuple_target);
ALTER TABLE mailsink_text ALTER COLUMN search TYPE text USING search || '';
UPDATE mailsink_schema SET version = 7;
"""
"""SQL that takes a store's tables back from schema version 8 to 7 (migration tests)."""

UNDO_VERSION_9 = """
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
UPDATE mailsink_schema SET version = 8;
"""
"""SQL that takes a store's tables back from schema version 9 to 8: version 4's word function."""

UNDO_STEPS = {
    3: UNDO_VERSION_3,
    4: UNDO_VERSION_4,
    5: UNDO_VERSION_5,
    6: UNDO_VERSION_6,
    7: UNDO_VERSION_7,
    8: UNDO_VERSION_8,
    9: UNDO_VERSION_9,
}
"""Each step's undo, by the version it takes the tables back from (version 2's is the relay
test's own, 1 has none)."""


def undo_to(conn: Any, version: int) -> None:
    """Take a store's tables back from this code's schema to ``version`` (at least 2)."""
    from mailsink.store.postgres.schema import SCHEMA_VERSION

    for step in range(SCHEMA_VERSION, version, -1):
        conn.execute(UNDO_STEPS[step])
    conn.execute("UPDATE mailsink_schema SET version = %s", (version,))


def schema_version(url: str) -> int:
    """Return the schema version a store's tables are at."""
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute("SELECT version FROM mailsink_schema").fetchone()
    assert row is not None
    return int(row[0])
