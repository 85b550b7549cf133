"""Memory and SQLite search agree: the same corpus, the same queries, the same answers.

The memory store filters with a Python predicate (``store/match.py``), the
SQLite store with SQL and FTS5 (``store/sqlite/query.py``); this suite runs
every kind of term, negated too, against both and through the HTTP API.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from api_helpers import make_api

from mailsink.message import Envelope, new_id, summarize
from mailsink.search import parse_query
from mailsink.store import MemoryStore, MessageStore, SQLiteStore
from mailsink.store.base import Incoming

pytest_plugins = ["conftest_api"]

DAY = 86_400.0
BASE = 1_706_695_200.0  # 2024-01-31T10:00:00Z

ATTACHMENT = (
    'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="b"\r\n\r\n'
    "--b\r\nContent-Type: text/plain\r\n\r\nsee the report attached\r\n"
    '--b\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename="r.pdf"\r\n'
    "\r\nPDF\r\n--b--\r\n"
)
INLINE = (
    'MIME-Version: 1.0\r\nContent-Type: multipart/related; boundary="b"\r\n\r\n'
    '--b\r\nContent-Type: text/html\r\n\r\n<p>logo <img src="cid:l"></p>\r\n'
    "--b\r\nContent-Type: image/png\r\nContent-ID: <l>\r\n\r\nPNG\r\n--b--\r\n"
)

# (headers, body-or-MIME, envelope recipients, days after BASE)
CORPUS: list[tuple[str, str, tuple[str, ...], float]] = [
    (
        "From: Alice Smith <alice@example.test>\r\nTo: Bob <bob@example.test>\r\n"
        "Subject: Invoice 42\r\nMessage-ID: <inv42@shop.test>\r\nX-Campaign: Spring Sale\r\n",
        "\r\nYour invoice total is 99 EUR\r\n",
        ("bob@example.test", "audit@example.test"),
        0,
    ),
    (
        "From: shop@store.test\r\nTo: a@x.test, Carol <carol@example.test>\r\n"
        "Cc: manager@example.test\r\nSubject: Order shipped\r\nX-Tags: shipping, Urgent\r\n",
        "\r\nTracking number ZX81\r\n",
        ("a@x.test", "carol@example.test", "manager@example.test"),
        1,
    ),
    (
        "From: Bob <bob@example.test>\r\nTo: ba@x.test\r\nReply-To: replies@example.test\r\n"
        "Subject: =?utf-8?q?Gr=C3=BC=C3=9Fe_aus_K=C3=B6ln?=\r\nX-Campaign: autumn\r\n",
        "\r\nViele Grüße\r\n",
        ("ba@x.test", "bob+newsletter@example.test"),
        2,
    ),
    (
        "From: Dave <dave@other.test>\r\nTo: eve@example.test\r\nSubject: Report\r\n",
        ATTACHMENT,
        ("eve@example.test",),
        3,
    ),
    (
        "From: news@brand.test\r\nTo: eve@example.test\r\nSubject: Brand news\r\n",
        INLINE,
        ("eve@example.test",),
        4,
    ),
    (
        "From: noreply@example.test\r\nTo: zed@example.test\r\nSubject: ab\r\n",
        "\r\n" + "padding " * 400 + "\r\n",
        ("zed@example.test",),
        5,
    ),
]

QUERIES = [
    "",
    "invoice",
    '"invoice total"',
    "INVOICE",
    "ab",
    "zx",
    "grüße",
    "-invoice",
    "!invoice",
    "to:a@x.test",
    "to:=a@x.test",
    "-to:=a@x.test",
    "to:carol",
    "to:example.test",
    "from:alice",
    "from:=bob@example.test",
    "cc:manager",
    "bcc:audit@example.test",
    "bcc:=audit@example.test",
    "reply-to:replies",
    "addressed:bob",
    "addressed:=bob@example.test",
    'addressed:"x.test, carol"',
    'to:"x.test, carol"',
    'addressed:"example.test>, manager"',  # spans To and Cc: no header holds it
    "subject:invoice",
    "subject:köln",
    "-subject:report",
    "message-id:inv42",
    "message-id:<inv42@shop.test>",
    "tag:shipping",
    "tag:urgent",
    "tag:newsletter",
    "-tag:shipping",
    "tag:ship",
    "is:read",
    "is:unread",
    "is:tagged",
    "-is:tagged",
    "has:attachment",
    "has:inline",
    "-has:attachment",
    "larger:1K",
    "smaller:1K",
    "larger:2K smaller:5K",
    "after:2024-02-02",
    "before:2024-02-02",
    "after:2024-02-01T10:00:00Z before:2024-02-03",
    "header:X-Campaign",
    "header:x-campaign=spring",
    "-header:X-Campaign",
    "header:X-Campaign=sale",
    "from:bob subject:grüße",
    "to:eve -has:inline",
    "example.test",
    "is:unread has:attachment",
]


def _incoming() -> list[Incoming]:
    """Return the corpus as Incoming records with fixed received times."""
    records = []
    for head, body, rcpts, days in CORPUS:
        raw = (head + body).encode()
        envelope = Envelope("sender@example.test", rcpts, helo="h", peer="127.0.0.1:1")
        records.append(
            Incoming(new_id(), BASE + days * DAY, raw, envelope, summarize(raw, envelope))
        )
        time.sleep(0.002)  # distinct millisecond ID prefixes
    return records


SQLITE_KINDS = ["indexed", "scanned", "lagging"]
"""The SQLite store searched through its text index, with no index, and with an
index that holds only the first half of the corpus (the rest is scanned)."""


@pytest.fixture(scope="module")
def stores(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[MemoryStore, dict[str, SQLiteStore]]]:
    """Yield a memory store and SQLite stores of each kind, holding the same corpus and flags."""
    records = _incoming()
    folder = Path(tmp_path_factory.mktemp("contract"))
    memory = MemoryStore()
    sqlite = {
        kind: SQLiteStore(folder / f"{kind}.db", text_index=kind != "scanned").start()
        for kind in SQLITE_KINDS
    }
    with contextlib.ExitStack() as held:
        stores: list[tuple[str, MessageStore]] = [("memory", memory), *sqlite.items()]
        for kind, store in stores:
            half = len(records) // 2
            if kind == "lagging":
                assert isinstance(store, SQLiteStore)
                store.add(records[:half])
                assert store.wait_indexed()
                index = store.text_index
                assert index is not None
                held.enter_context(index.hold())
                store.add(records[half:])
            else:
                store.add(records)
            store.set_read([records[0].id, records[3].id], True)
            store.set_tags([records[4].id], ["Shipping", "promo"])
        assert sqlite["indexed"].wait_indexed()
        lagging_index = sqlite["lagging"].text_index
        assert lagging_index is not None and lagging_index.upto < len(records)
        yield memory, sqlite
    memory.close()
    for store in sqlite.values():
        store.close()


@pytest.mark.parametrize("kind", SQLITE_KINDS)
@pytest.mark.parametrize("text", QUERIES)
def test_memory_and_sqlite_search_agree(
    stores: tuple[MemoryStore, dict[str, SQLiteStore]], text: str, kind: str
) -> None:
    memory, stores_by_kind = stores
    sqlite = stores_by_kind[kind]
    query = parse_query(text)
    expected = memory.ids(query)
    assert sqlite.ids(query) == expected
    memory_page = memory.list(0, 2, query)
    sqlite_page = sqlite.list(0, 2, query)
    assert [m.id for m in sqlite_page.items] == [m.id for m in memory_page.items]
    assert sqlite_page.matched == memory_page.matched == len(expected)


def test_the_corpus_exercises_both_matches_and_misses(
    stores: tuple[MemoryStore, dict[str, SQLiteStore]],
) -> None:
    memory, _ = stores
    counts = [len(memory.ids(parse_query(q))) for q in QUERIES]
    assert sum(1 for c in counts if 0 < c < len(CORPUS)) >= len(QUERIES) * 3 // 4


def test_search_api_answers_the_same_over_both_stores(tmp_path: Path) -> None:
    records = _incoming()
    apis = [make_api(MemoryStore()), make_api(SQLiteStore(tmp_path / "api.db").start())]
    try:
        for api in apis:
            api.mailbox.store.add(records)
        for text in QUERIES:
            answers = [
                api.client.get("/api/v1/search", query_string={"query": text}).get_json()
                for api in apis
            ]
            assert answers[0] == answers[1], text
    finally:
        for api in apis:
            api.close()
