"""The store contract: every behaviour here holds for MemoryStore and SQLiteStore alike."""

from __future__ import annotations

import dataclasses
import threading
import time
from pathlib import Path

import pytest

from helpers import incoming, make_raw
from mailsink.search import parse_query
from mailsink.store import MessageStore
from mailsink.store.base import MAX_PAGE, SharedStore
from mailsink.store.relays import RelayAttempt, RelayJob
from mailsink.web.api import matched_unread as api_matched_unread


def test_added_message_comes_back_with_its_exact_bytes(store: MessageStore) -> None:
    raw = make_raw(subject="Exact") + b"\x00\xff odd bytes\r\n"
    item = incoming(raw)
    store.add([item])
    assert store.raw(item.id) == raw
    got = store.get(item.id)
    assert got is not None
    assert got.summary.subject == "Exact"
    assert got.envelope == item.envelope
    assert got.read is False


def test_unknown_id_gives_none(store: MessageStore) -> None:
    assert store.get("nope") is None
    assert store.raw("nope") is None


def test_list_is_newest_first_with_offset_and_limit(store: MessageStore) -> None:
    items = [incoming(subject=f"m{i}") for i in range(7)]
    for item in items:
        store.add([item])
    page = store.list(start=2, limit=3)
    assert [m.summary.subject for m in page.items] == ["m4", "m3", "m2"]
    assert (page.total, page.unread, page.matched, page.start) == (7, 7, 7, 2)
    assert store.list(start=10).items == []


def test_a_search_page_counts_its_matches_and_their_unread(store: MessageStore) -> None:
    """``matched`` and ``messages_unread`` of any page of a search are those of the whole search.

    Every store counts the unread matches with the search (``Page.matched_unread``,
    one pass), so the API needs no second query for them.
    """
    store.add([incoming(subject=f"{'odd' if n % 2 else 'even'} {n}") for n in range(60)])
    odd = store.ids(parse_query("subject:odd"))
    store.set_read(odd[:7], True)
    store.set_read(store.ids(parse_query("subject:even"))[:3], True)
    query = parse_query("subject:odd")
    for start, limit in ((0, 5), (10, 50), (29, 1), (40, 10)):
        page = store.list(start, limit, query)
        assert page.matched == 30
        assert page.matched_unread == 23
        assert api_matched_unread(store, query, page) == 23
        assert [m.id for m in page.items] == odd[start : start + limit]
    whole = store.list(50, 20)
    assert (whole.matched, len(whole.items)) == (60, 10)
    assert whole.matched_unread == 50
    assert [m.id for m in whole.items] == store.ids()[50:]
    nothing = store.list(0, 50, parse_query("subject:nowhere"))
    assert (nothing.items, nothing.matched) == ([], 0)
    assert nothing.matched_unread == 0
    assert api_matched_unread(store, parse_query("subject:nowhere"), nothing) == 0


def test_page_size_is_capped(store: MessageStore) -> None:
    store.add([incoming() for _ in range(3)])
    assert len(store.list(limit=10**9).items) == 3
    assert store.list(limit=-5).items == []
    assert MAX_PAGE == 1000


def test_count_delete_one_and_many(store: MessageStore) -> None:
    items = [incoming() for _ in range(5)]
    store.add(items)
    assert store.count() == 5
    assert store.delete([items[0].id]) == [items[0].id]
    assert store.delete([items[1].id, "missing", items[2].id]) == [items[1].id, items[2].id]
    assert store.count() == 2
    assert store.get(items[1].id) is None
    assert store.raw(items[1].id) is None


def test_clear_removes_everything(store: MessageStore) -> None:
    store.add([incoming() for _ in range(4)])
    assert store.clear() == 4
    assert store.count() == 0
    assert store.unread() == 0
    assert store.list().items == []


def test_mark_read_and_unread_keeps_unread_count(store: MessageStore) -> None:
    a, b = incoming(), incoming()
    store.add([a, b])
    assert store.set_read([a.id], True) == [a.id]
    assert store.set_read([a.id], True) == []  # no change the second time
    assert store.unread() == 1
    assert store.get(a.id).read is True  # type: ignore[union-attr]
    assert store.set_read([a.id, b.id], False) == [a.id]
    assert store.unread() == 2
    store.set_read([a.id], True)
    store.delete([a.id])
    assert store.unread() == 1


def test_prune_keeps_the_newest(store: MessageStore) -> None:
    store.max_messages = 3
    items = [incoming(subject=f"m{i}") for i in range(5)]
    pruned = []
    for item in items:
        pruned += store.add([item])
    assert pruned == [items[0].id, items[1].id]
    assert [m.summary.subject for m in store.list().items] == ["m4", "m3", "m2"]
    assert store.count() == 3


def test_prune_within_one_batch(store: MessageStore) -> None:
    store.max_messages = 2
    items = [incoming(subject=f"m{i}") for i in range(4)]
    assert store.add(items) == [items[0].id, items[1].id]
    assert store.count() == 2


def test_zero_max_messages_means_unlimited(store: MessageStore) -> None:
    store.max_messages = 0
    store.add([incoming() for _ in range(50)])
    assert store.count() == 50


def test_tags_set_rename_delete(store: MessageStore) -> None:
    a, b = incoming(), incoming()
    store.add([a, b])
    assert store.set_tags([a.id, "missing"], ["Red", "blue", "red", " "]) == [a.id]
    assert store.get(a.id).tags == ("Red", "blue")  # type: ignore[union-attr]
    store.set_tags([b.id], ["blue"])
    assert store.tags() == ["blue", "Red"]
    assert sorted(store.rename_tag("BLUE", "green")) == sorted([a.id, b.id])
    assert store.get(b.id).tags == ("green",)  # type: ignore[union-attr]
    assert store.delete_tag("red") == [a.id]
    assert store.get(a.id).tags == ("green",)  # type: ignore[union-attr]


def test_a_message_whose_last_tag_is_deleted_is_untagged(store: MessageStore) -> None:
    a, b, c = incoming(), incoming(), incoming()
    store.add([a, b, c])
    store.set_tags([a.id], ["solo"])
    store.set_tags([b.id, c.id], ["solo", "pair"])
    store.delete([c.id])
    assert store.tag_counts() == {"pair": 1, "solo": 2}
    store.delete_tag("solo")
    assert store.ids(parse_query("is:tagged")) == [b.id]
    assert store.tag_counts() == {"pair": 1}
    store.rename_tag("pair", "solo")
    assert store.tag_counts() == {"solo": 1}
    assert store.ids(parse_query("tag:solo")) == [b.id]


def test_tags_from_header_and_plus_addressing_are_kept(store: MessageStore) -> None:
    raw = make_raw(to="bob+signup@example.test", extra_headers="X-Tags: alpha, beta\r\n")
    item = incoming(raw, rcpts=("bob+signup@example.test",))
    store.add([item])
    assert store.get(item.id).tags == ("alpha", "beta", "signup")  # type: ignore[union-attr]


def test_a_tag_with_double_quotes_is_kept_without_them_so_tag_search_finds_it(
    store: MessageStore,
) -> None:
    raw = make_raw(extra_headers='X-Tags: say "hi", "quoted"\r\n')
    a, b = incoming(raw), incoming()
    store.add([a, b])
    store.set_tags([b.id], ['"release" 2'])
    assert store.get(a.id).tags == ("say hi", "quoted")  # type: ignore[union-attr]
    assert store.get(b.id).tags == ("release 2",)  # type: ignore[union-attr]
    assert store.ids(parse_query('tag:"say hi"')) == [a.id]
    assert store.ids(parse_query('tag:"release 2"')) == [b.id]
    store.rename_tag("quoted", 'un"quoted')
    assert store.ids(parse_query("tag:unquoted")) == [a.id]


def test_tag_counts_agree_with_a_tag_search_for_each_tag(store: MessageStore) -> None:
    tagged = make_raw(to="bob+Beta@example.test", extra_headers="X-Tags: Alpha, beta\r\n")
    items = [incoming(tagged, rcpts=("bob+Beta@example.test",)), incoming(), incoming()]
    store.add(items)
    store.set_tags([items[1].id], ["ALPHA", "gamma"])
    counts = store.tag_counts()
    assert list(counts) == store.tags()  # each spelled as tags() has it (Alpha or ALPHA)
    assert {tag.lower(): n for tag, n in counts.items()} == {"alpha": 2, "beta": 1, "gamma": 1}
    for tag, count in counts.items():
        assert store.list(query=parse_query(f"tag:{tag.lower()}")).matched == count
    store.delete([items[0].id])
    assert store.tag_counts() == {"ALPHA": 1, "gamma": 1}


def test_search_filters_and_counts_matches(store: MessageStore) -> None:
    store.add([incoming(subject="Invoice 42", to="ann@x.test"), incoming(subject="Welcome")])
    page = store.list(query=parse_query("subject:invoice"))
    assert [m.summary.subject for m in page.items] == ["Invoice 42"]
    assert (page.matched, page.total) == (1, 2)
    assert store.ids(parse_query("-subject:invoice")) == [store.list().items[0].id]


def test_concurrent_writers_and_readers_do_not_lose_messages(store: MessageStore) -> None:
    errors: list[BaseException] = []

    def write() -> None:
        try:
            for _ in range(30):
                store.add([incoming()])
        except BaseException as error:
            errors.append(error)

    def read() -> None:
        try:
            for _ in range(30):
                store.list(limit=10)
                store.count()
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=f) for f in (write, write, read, read)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert store.count() == 60


def test_free_text_finds_words_anywhere_in_a_long_body(store: MessageStore) -> None:
    filler = "lorem ipsum dolor " * 2000  # ~36 KB of text
    a = incoming(body=filler + " needle-at-the-end")
    b = incoming(body="needle-at-the-start " + filler)
    c = incoming(body=filler[:3500] + "straddling-term" + filler)
    d = incoming(body=filler[:3000] + "x" * 1000 + "long-straddler" + filler)
    store.add([a, b, c, d])
    assert store.ids(parse_query("needle-at-the-end")) == [a.id]
    assert store.ids(parse_query("needle-at-the-start")) == [b.id]
    assert store.ids(parse_query("straddling-term")) == [c.id]
    assert store.ids(parse_query("x" * 700 + "long-straddler")) == [d.id]
    assert set(store.ids(parse_query("lorem"))) == {a.id, b.id, c.id, d.id}


def test_a_multipart_text_part_is_the_text_searched_and_shown(store: MessageStore) -> None:
    text = "Weekly digest: the parttextword lives here.\r\n" + "more words " * 500
    raw = (
        b"From: a@x.test\r\nTo: b@x.test\r\nSubject: News\r\n"
        b'Content-Type: multipart/mixed; boundary="b1"\r\n\r\n'
        b"--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        + text.encode()
        + b"\r\n--b1\r\nContent-Type: application/pdf\r\n\r\nafterpartword\r\n--b1--\r\n"
    )
    item = incoming(raw=raw)
    store.add([item])
    got = store.get(item.id)
    assert got is not None
    assert got.summary.snippet == item.summary.snippet
    assert got.summary.snippet.startswith("Weekly digest: the parttextword")
    assert store.raw(item.id) == raw
    assert store.ids(parse_query("parttextword")) == [item.id]
    assert store.ids(parse_query('"digest: the"')) == [item.id]
    assert store.ids(parse_query("afterpartword")) == []  # an attachment is not text


def test_header_search_decodes_and_unfolds_values(store: MessageStore) -> None:
    a = incoming(extra_headers="X-Campaign: =?utf-8?q?Fr=C3=BChling?= sale\r\n")
    b = incoming(extra_headers="X-Campaign: autumn\r\n  folded part\r\n")
    c = incoming()
    store.add([a, b, c])
    assert store.ids(parse_query("header:x-campaign")) == [b.id, a.id]
    assert store.ids(parse_query("header:X-Campaign=frühling")) == [a.id]
    assert store.ids(parse_query('header:x-campaign="folded part"')) == [b.id]
    assert store.ids(parse_query("-header:x-campaign")) == [c.id]


def test_search_works_after_clear(store: MessageStore) -> None:
    store.add([incoming(body="before clear")])
    store.clear()
    after = incoming(body="after clear")
    store.add([after])
    assert store.ids(parse_query("clear")) == [after.id]
    assert store.ids(parse_query("before")) == []


def test_search_finds_encoded_and_punctuated_values(store: MessageStore) -> None:
    encoded = incoming(
        raw=(
            b"From: =?utf-8?q?Ren=C3=A9e?= <renee@x.test>\r\nTo: Ann Lee <ann@x.test>\r\n"
            b"Subject: =?utf-8?q?CAF=C3=89_back\\slash_news?=\r\n"
            b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n"
            b"aGlkZGVuIGluIGJhc2U2NA==\r\n"  # "hidden in base64"
        )
    )
    plain = incoming(body="nothing special")
    store.add([encoded, plain])
    for text in (
        "café",  # the subject, decoded and lowercased
        "subject:back\\slash",  # JSON escapes the backslash: never prefiltered
        "from:renée",
        'to:"lee <ann@"',  # spans the display name and the address
        "hidden",  # only in the base64 body
        '"in base64"',
        "to:=ann@x.test",
    ):
        assert store.ids(parse_query(text)) == [encoded.id], text
    assert store.ids(parse_query("special")) == [plain.id]


def test_relay_jobs_are_kept_replaced_listed_and_forgotten(store: MessageStore) -> None:
    first = RelayJob("r1", "m1", "a@x.test", ("b@x.test",), "auto", next_at=5.0)
    store.put_relay(first)
    store.put_relay(RelayJob("r2", "m2", "a@x.test", ("c@x.test",), "release"))
    attempt = RelayAttempt(1.5, ("b@x.test",), "deferred", "451 4.0.0 later")
    retried = dataclasses.replace(first, attempts=(attempt,), next_at=9.0)
    store.put_relay(retried)
    assert store.relays("m1") == [retried]
    assert [j.id for j in store.pending_relays()] == ["r1", "r2"]
    store.put_relay(dataclasses.replace(retried, state="sent"))
    assert [j.id for j in store.pending_relays()] == ["r2"]
    assert store.relays("m1")[0].state == "sent"
    store.forget_relays(["m1"])
    assert store.relays("m1") == []
    assert store.relays("m2") != []
    store.forget_relays(None)
    assert store.pending_relays() == []


def test_disk_usage_is_the_bytes_of_the_store_files(store: MessageStore, tmp_path: Path) -> None:
    """The SQLite store's files are all under tmp_path; the memory store has none."""
    if isinstance(store, SharedStore):  # its bytes are in a database, not in files
        pytest.skip("test_postgres_store.py checks a database store's disk_usage")
    store.add([incoming(body="x" * 5000) for _ in range(5)])

    def on_disk() -> int:
        return sum(p.stat().st_size for p in tmp_path.rglob("*") if p.is_file())

    deadline = time.monotonic() + 20
    while True:  # the SQLite store's threads change the files for a moment after a write
        before, usage, after = on_disk(), store.disk_usage(), on_disk()
        if before == after or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert usage == before == after


def test_uids_increase_in_arrival_order_and_are_never_reused(store: MessageStore) -> None:
    first = [incoming(subject=f"u{i}") for i in range(3)]
    store.add(first)
    pairs = store.uids()
    assert [message_id for _, message_id in pairs] == [item.id for item in first]
    uids = [uid for uid, _ in pairs]
    assert uids == sorted(uids) and len(set(uids)) == 3 and uids[0] >= 1
    store.delete([first[2].id])
    store.clear()
    later = incoming(subject="after clear")
    store.add([later])
    [(uid, message_id)] = store.uids()
    assert message_id == later.id and uid > uids[-1]


def test_uids_after_and_with_a_query(store: MessageStore) -> None:
    store.add([incoming(subject="alpha"), incoming(subject="beta"), incoming(subject="alpha 2")])
    everything = store.uids()
    assert store.uids(after=everything[0][0]) == everything[1:]
    alphas = store.uids(parse_query("subject:alpha"))
    assert alphas == [everything[0], everything[2]]
    assert store.uids(parse_query("subject:alpha"), after=everything[0][0]) == [everything[2]]


def test_uid_validity_is_a_positive_32_bit_number_kept_by_clear(store: MessageStore) -> None:
    validity = store.uid_validity()
    assert 0 < validity < 2**32
    store.add([incoming()])
    store.clear()
    assert store.uid_validity() == validity
