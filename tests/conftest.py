"""Shared fixtures: stores of every kind, and running sinks on free ports."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

from mailsink.config import Settings
from mailsink.server import Sink
from mailsink.store import MemoryStore, MessageStore, SQLiteStore
from mailsink.tls import CertificateFiles, generate_certificate
from pg_server import PostgresServer, start_server


@pytest.fixture(params=["memory", "sqlite"])
def kind(request: pytest.FixtureRequest) -> str:
    """Name a kind of store (``reader_helpers.reader_sink`` builds a sink over it)."""
    return str(request.param)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """Start one PostgreSQL server for this test process (each xdist worker has its own)."""
    server = start_server()
    yield server
    server.remove()


PostgresURL = Callable[[], str]


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> Iterator[PostgresURL]:
    """Return a factory of URLs, each naming a new empty schema; the schemas go afterwards.

    A schema per test is far quicker than a database per test, and the store
    keeps its tables, locks and change channel per schema.
    """
    import psycopg

    made: list[str] = []

    def make() -> str:
        name = f"t_{secrets.token_hex(6)}"
        with psycopg.connect(postgres_server.url(), autocommit=True) as conn:
            conn.execute(f"CREATE SCHEMA {name}")
        made.append(name)
        return postgres_server.url() + "?options=" + quote(f"-csearch_path={name},public")

    yield make
    with psycopg.connect(postgres_server.url(), autocommit=True) as conn:
        for name in made:
            conn.execute(f"DROP SCHEMA IF EXISTS {name} CASCADE")


STORE_KINDS = ["memory", "sqlite", "sqlite-scan", "postgres"]


@pytest.fixture(params=STORE_KINDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[MessageStore]:
    """Yield an empty store of each kind; the contract suite runs against all.

    ``sqlite-scan`` is the SQLite store without its text index: free text is
    found by scanning, the path a search takes for messages not indexed yet.
    ``postgres`` is a PostgreSQL store in a schema of its own on the
    session's server.
    """
    made: MessageStore
    if request.param == "memory":
        made = MemoryStore()
    elif request.param == "postgres":
        from mailsink.store.postgres import PostgresStore

        url: PostgresURL = request.getfixturevalue("postgres_url")
        made = PostgresStore(url()).start()
    else:
        made = SQLiteStore(tmp_path / "mail.db", text_index=request.param == "sqlite").start()
    yield made
    made.close()


@pytest.fixture(scope="session")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> CertificateFiles:
    """Return one generated certificate for the whole test session."""
    return generate_certificate(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def make_sink(certificate: CertificateFiles) -> Iterator[object]:
    """Return a factory of started sinks on free ports; all are stopped afterwards."""
    sinks: list[Sink] = []

    def make(**overrides: object) -> Sink:
        options: dict[str, object] = {
            "smtp_port": 0,
            "http_port": None,
            "tls_cert": str(certificate.cert),
            "tls_key": str(certificate.key),
        }
        options.update(overrides)
        sink = Sink(Settings(**options)).start()  # type: ignore[arg-type]
        sinks.append(sink)
        return sink

    yield make
    for sink in sinks:
        sink.stop()


@pytest.fixture
def sink(make_sink: object) -> Sink:
    """Return a started sink with a memory store, STARTTLS offered, no web server."""
    return make_sink()  # type: ignore[operator, no-any-return]


@pytest.fixture(scope="session")
def spamd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """Yield a real spamd on a free loopback port, one per test process (about 1 s to start)."""
    from spamd import start_spamd

    folder = tmp_path_factory.mktemp("spamd")
    folder.chmod(0o777)  # spamd drops to nobody when run as root, and logs here
    running = start_spamd(folder)
    yield running
    running.stop()
