"""The Mailpit v1 list, search, read-status, delete, tags and info endpoints."""

from __future__ import annotations

import pytest
from api_helpers import Api, make_api, raw_message

from mailsink.config import Settings
from mailsink.message import Envelope
from mailsink.store import MemoryStore

pytest_plugins = ["conftest_api"]


def test_list_is_newest_first_with_mailpit_counts(api_any: Api) -> None:
    first = api_any.deliver(subject="one")
    second = api_any.deliver(subject="two")
    data = api_any.get_json("/api/v1/messages")
    assert [m["ID"] for m in data["messages"]] == [second.id, first.id]
    assert data["total"] == 2
    assert data["unread"] == 2
    assert data["count"] == 2
    assert data["messages_count"] == 2
    assert data["start"] == 0
    assert data["tags"] == []


def test_summary_has_mailpit_fields_and_the_envelope(api: Api) -> None:
    api.deliver(
        raw_message_with_everything(),
        rcpts=("bob@example.test", "hidden@example.test"),
    )
    item = api.get_json("/api/v1/messages")["messages"][0]
    assert item["From"] == {"Name": "Alice", "Address": "alice@example.test"}
    assert item["To"] == [{"Name": "Bob", "Address": "bob@example.test"}]
    assert item["Cc"] == [{"Name": "", "Address": "carol@example.test"}]
    assert {"Name": "", "Address": "hidden@example.test"} in item["Bcc"]
    assert item["ReplyTo"] == [{"Name": "", "Address": "reply@example.test"}]
    assert item["MessageID"] == "abc@example.test"
    assert item["Subject"] == "Everything"
    assert item["Created"].endswith("Z")
    assert len(item["Created"]) == len("2024-01-31T10:00:00.123Z")
    assert item["Tags"] == ["urgent"]
    assert item["Snippet"] == "Body text"
    assert item["Attachments"] == 0
    assert item["Inline"] == 0
    assert item["Read"] is False
    assert item["Username"] == ""
    assert item["Envelope"] == {
        "MailFrom": "alice@example.test",
        "RcptTo": ["bob@example.test", "hidden@example.test"],
        "Helo": "client.test",
        "Peer": "127.0.0.1:1234",
        "TLS": False,
        "AuthUser": None,
    }


def raw_message_with_everything() -> bytes:
    """Return a message with every address header, a Message-ID and X-Tags."""
    return (
        b"From: Alice <alice@example.test>\r\nTo: Bob <bob@example.test>\r\n"
        b"Cc: carol@example.test\r\nReply-To: reply@example.test\r\n"
        b"Message-ID: <abc@example.test>\r\nSubject: Everything\r\nX-Tags: urgent\r\n"
        b"\r\nBody text\r\n"
    )


def test_paging_with_start_and_limit(api: Api) -> None:
    ids = [api.deliver(subject=f"m{i}").id for i in range(5)]
    data = api.get_json("/api/v1/messages?start=1&limit=2")
    assert [m["ID"] for m in data["messages"]] == [ids[3], ids[2]]
    assert data["start"] == 1
    assert data["count"] == 2
    assert data["messages_count"] == 5


@pytest.mark.parametrize(
    ("query", "start", "count"),
    [
        ("limit=abc", 0, 3),  # junk: Mailpit's defaults (start 0, limit 50)
        ("start=-1&limit=2", 0, 2),
        ("start=junk&limit=-5", 0, 3),
        ("limit=99999999999999999999999", 0, 3),  # served as MAX_LIST
        ("start=99999999999999999999999", 2**62, 0),
    ],
)
def test_junk_paging_is_read_as_mailpit_reads_it(
    api: Api, query: str, start: int, count: int
) -> None:
    for n in range(3):
        api.deliver(subject=f"m{n}")
    body = api.get_json(f"/api/v1/messages?{query}")
    assert (body["start"], body["count"]) == (start, count)


def test_a_limit_over_a_store_page_is_served_whole(api: Api) -> None:
    """npm mailpit-api asks for limit=2000; the store pages are 1000 long."""
    from mailsink.store.base import MAX_PAGE

    api.ingestor.store_batch(
        [(raw_message(subject=f"m{n}"), Envelope("a@x.test", ("b@x.test",), "h", "p"))
         for n in range(MAX_PAGE + 5)]
    )  # fmt: skip
    body = api.get_json("/api/v1/messages?limit=2000")
    assert body["count"] == MAX_PAGE + 5 == body["messages_count"]
    assert len({m["ID"] for m in body["messages"]}) == MAX_PAGE + 5
    body = api.get_json("/api/v1/messages?start=3&limit=1001")
    assert body["count"] == 1001  # 1002 left after the first 3
    assert body["start"] == 3


def test_search_counts_matches_separately_from_total(api_any: Api) -> None:
    api_any.deliver(subject="invoice 1", to="bob@example.test")
    api_any.deliver(subject="hello", to="carol@example.test")
    wanted = api_any.deliver(subject="invoice 2", to="carol@example.test")
    data = api_any.get_json("/api/v1/search?query=subject:invoice%20to:carol")
    assert [m["ID"] for m in data["messages"]] == [wanted.id]
    assert data["messages_count"] == 1
    assert data["total"] == 3


def test_search_to_is_a_substring_and_to_equals_is_exact(api_any: Api) -> None:
    exact = api_any.deliver(to="a@x.test")
    longer = api_any.deliver(to="ba@x.test")
    loose = api_any.get_json("/api/v1/search?query=to:a@x.test")["messages"]
    strict = api_any.get_json("/api/v1/search?query=to:=a@x.test")["messages"]
    assert {m["ID"] for m in loose} == {exact.id, longer.id}
    assert [m["ID"] for m in strict] == [exact.id]


def test_search_finds_envelope_only_recipients_with_bcc(api_any: Api) -> None:
    hidden = api_any.deliver(rcpts=("bob@example.test", "secret@example.test"))
    api_any.deliver()
    found = api_any.get_json("/api/v1/search?query=bcc:secret@example.test")["messages"]
    assert [m["ID"] for m in found] == [hidden.id]


def test_search_by_any_header(api_any: Api) -> None:
    spring = api_any.deliver(headers="X-Campaign: Spring Sale\r\n")
    api_any.deliver(headers="X-Campaign: autumn\r\n")
    api_any.deliver()
    by_value = api_any.get_json("/api/v1/search?query=header:X-Campaign=spring")["messages"]
    present = api_any.get_json("/api/v1/search?query=header:x-campaign")["messages"]
    assert [m["ID"] for m in by_value] == [spring.id]
    assert len(present) == 2


@pytest.mark.parametrize("query", ["is:bogus", "larger:lots", "before:yesterday", "header:"])
def test_bad_search_is_a_400_saying_what_is_wrong(api: Api, query: str) -> None:
    response = api.client.get("/api/v1/search", query_string={"query": query})
    assert response.status_code == 400
    assert response.get_json()["Error"].startswith("bad search: ")


def test_search_without_query_is_a_400(api: Api) -> None:
    assert api.client.get("/api/v1/search").status_code == 400


def test_search_with_an_unknown_time_zone_reads_dates_in_utc_as_mailpit_does(api: Api) -> None:
    api.deliver(subject="now")
    body = api.get_json("/api/v1/search?query=after:2024-01-01&tz=Mars/Olympus")
    assert body["messages_count"] == 1


def test_search_counts_the_unread_matches(api_any: Api) -> None:
    first = api_any.deliver(subject="invoice 1")
    api_any.deliver(subject="invoice 2")
    api_any.deliver(subject="hello")
    api_any.mailbox.set_read([first.id], True)
    body = api_any.get_json("/api/v1/search?query=invoice")
    assert (body["messages_count"], body["messages_unread"], body["unread"]) == (2, 1, 2)
    body = api_any.get_json("/api/v1/messages")
    assert (body["messages_count"], body["messages_unread"]) == (3, 2)


def test_delete_search_deletes_only_matches(api_any: Api) -> None:
    api_any.deliver(subject="spam one")
    kept = api_any.deliver(subject="ham")
    assert api_any.client.delete("/api/v1/search?query=subject:spam").status_code == 200
    assert [m["ID"] for m in api_any.get_json("/api/v1/messages")["messages"]] == [kept.id]


def test_delete_search_refuses_an_empty_query(api: Api) -> None:
    api.deliver()
    assert api.client.delete("/api/v1/search?query=").status_code == 400
    assert api.mailbox.store.count() == 1


def test_set_read_by_ids(api_any: Api) -> None:
    first = api_any.deliver()
    second = api_any.deliver()
    response = api_any.client.put("/api/v1/messages", json={"IDs": [first.id], "Read": True})
    assert response.status_code == 200
    assert response.get_data(as_text=True) == "ok"
    assert api_any.mailbox.store.get(first.id).read is True  # type: ignore[union-attr]
    assert api_any.mailbox.store.get(second.id).read is False  # type: ignore[union-attr]


def test_set_read_matches_json_keys_case_insensitively(api: Api) -> None:
    message = api.deliver()
    api.client.put("/api/v1/messages", json={"ids": [message.id], "read": True})
    assert api.mailbox.store.unread() == 0


def test_set_read_by_search_and_by_default_all(api: Api) -> None:
    target = api.deliver(subject="target")
    other = api.deliver(subject="other")
    api.client.put("/api/v1/messages", json={"Search": "subject:target", "Read": True})
    assert api.mailbox.store.get(target.id).read is True  # type: ignore[union-attr]
    assert api.mailbox.store.get(other.id).read is False  # type: ignore[union-attr]
    api.client.put("/api/v1/messages", json={"Read": True})
    assert api.mailbox.store.unread() == 0
    api.client.put("/api/v1/messages", json={})
    assert api.mailbox.store.unread() == 2


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{not json", "not valid JSON"),
        (b"[1, 2]", "must be a JSON object"),
        (b'{"IDs": "abc"}', "IDs must be an array of strings"),
        (b'{"IDs": [1]}', "IDs must be an array of strings"),
        (b'{"Read": "yes"}', "Read must be true or false"),
        (b'{"Search": "is:nothing"}', "bad search"),
    ],
)
def test_malformed_read_status_body_is_a_400(api: Api, body: bytes, message: str) -> None:
    response = api.client.put("/api/v1/messages", data=body, content_type="application/json")
    assert response.status_code == 400
    assert message in response.get_json()["Error"]


def test_delete_by_ids_and_delete_all_without_ids(api_any: Api) -> None:
    first = api_any.deliver()
    second = api_any.deliver()
    api_any.deliver()
    api_any.client.delete("/api/v1/messages", json={"IDs": [first.id]})
    assert api_any.mailbox.store.get(first.id) is None
    assert api_any.mailbox.store.get(second.id) is not None
    response = api_any.client.delete("/api/v1/messages")
    assert response.get_data(as_text=True) == "ok"
    assert api_any.mailbox.store.count() == 0


def test_delete_all_answers_a_bare_request_with_an_empty_body_as_mailhog(api: Api) -> None:
    api.deliver()
    response = api.client.delete("/api/v1/messages", headers={"User-Agent": ""})
    assert response.status_code == 200
    assert response.get_data() == b""
    assert api.mailbox.store.count() == 0


def test_tags_from_header_and_plus_addressing_are_listed(api: Api) -> None:
    api.deliver(headers="X-Tags: Beta, alpha\r\n", rcpts=("bob+promo@example.test",))
    assert api.get_json("/api/v1/tags") == ["alpha", "Beta", "promo"]
    assert api.get_json("/api/v1/messages")["tags"] == ["alpha", "Beta", "promo"]


def test_set_rename_and_delete_tags(api_any: Api) -> None:
    message = api_any.deliver()
    put = api_any.client.put("/api/v1/tags", json={"IDs": [message.id], "Tags": ["one", "two"]})
    assert put.status_code == 200
    assert api_any.get_json("/api/v1/search?query=tag:one")["messages_count"] == 1
    rename = api_any.client.put("/api/v1/tags/one", json={"Name": "uno"})
    assert rename.status_code == 200
    assert api_any.get_json("/api/v1/tags") == ["two", "uno"]
    assert api_any.client.delete("/api/v1/tags/two").status_code == 200
    assert api_any.mailbox.store.get(message.id).tags == ("uno",)  # type: ignore[union-attr]
    api_any.client.put("/api/v1/tags", json={"IDs": [message.id], "Tags": []})
    assert api_any.get_json("/api/v1/tags") == []


def test_tags_with_counts_are_opt_in_and_the_plain_list_stays_mailpit_s(api_any: Api) -> None:
    first, second = api_any.deliver(), api_any.deliver()
    api_any.deliver(headers="X-Tags: beta\r\n")
    api_any.client.put("/api/v1/tags", json={"IDs": [first.id, second.id], "Tags": ["Alpha"]})
    api_any.client.put("/api/v1/tags", json={"IDs": [second.id], "Tags": ["Alpha", "gamma"]})
    assert api_any.get_json("/api/v1/tags") == ["Alpha", "beta", "gamma"]
    counts = api_any.get_json("/api/v1/tags?counts=1")
    assert counts == {"Alpha": 2, "beta": 1, "gamma": 1}
    assert list(counts) == ["Alpha", "beta", "gamma"]
    assert api_any.get_json("/api/v1/tags?counts=0") == ["Alpha", "beta", "gamma"]
    assert api_any.get_json("/api/v1/info")["Tags"] == counts
    refused = api_any.client.get("/api/v1/tags?counts=lots")
    assert refused.status_code == 400
    assert "counts" in refused.get_json()["Error"]


def test_tag_with_a_space_and_slash_is_url_encoded_in_the_path(api: Api) -> None:
    message = api.deliver()
    api.client.put("/api/v1/tags", json={"IDs": [message.id], "Tags": ["a b/c"]})
    assert api.client.delete("/api/v1/tags/a%20b%2Fc").status_code == 200
    assert api.get_json("/api/v1/tags") == []


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        ("put", "/api/v1/tags", {"Tags": ["x"]}, 400),
        ("put", "/api/v1/tags", {"IDs": ["x"]}, 400),
        ("put", "/api/v1/tags", {"IDs": ["x"], "Tags": "x"}, 400),
        ("put", "/api/v1/tags/nope", {"Name": "new"}, 404),
        ("put", "/api/v1/tags/nope", {}, 400),
        ("delete", "/api/v1/tags/nope", None, 404),
    ],
)
def test_bad_tag_requests_are_4xx(
    api: Api, method: str, path: str, body: object, status: int
) -> None:
    response = getattr(api.client, method)(path, json=body)
    assert response.status_code == status
    assert response.get_json()["Error"]


def test_info_counts_messages_and_tags(api: Api) -> None:
    api.deliver(headers="X-Tags: a\r\n")
    api.deliver(headers="X-Tags: a, b\r\n")
    info = api.get_json("/api/v1/info")
    assert info["Messages"] == 2
    assert info["Unread"] == 2
    assert info["Tags"] == {"a": 2, "b": 1}
    assert info["Version"]
    assert set(info["RuntimeStats"]) >= {"Uptime", "Memory", "SMTPAccepted"}


def test_webui_config_has_mailpit_fields(api: Api) -> None:
    config = api.get_json("/api/v1/webui")
    assert config["MessageRelay"]["Enabled"] is False
    assert config["SpamAssassin"] is False
    assert "SMTPPort" in config


def test_every_response_carries_nosniff_and_errors_are_json(api: Api) -> None:
    response = api.client.get("/api/v1/nothing-here")
    assert response.status_code == 404
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "Error" in response.get_json()


def test_a_foreign_host_header_is_refused(api: Api) -> None:
    response = api.client.get("/api/v1/messages", headers={"Host": "evil.example:8025"})
    assert response.status_code == 400


def test_no_cors_unless_configured() -> None:
    closed = make_api(MemoryStore())
    opened = make_api(MemoryStore(), Settings(cors_origins=("http://app.test",)))
    try:
        origin = {"Origin": "http://app.test"}
        plain = closed.client.get("/api/v1/messages", headers=origin)
        allowed = opened.client.get("/api/v1/messages", headers=origin)
        other = opened.client.get("/api/v1/messages", headers={"Origin": "http://evil.test"})
        assert "Access-Control-Allow-Origin" not in plain.headers
        assert allowed.headers["Access-Control-Allow-Origin"] == "http://app.test"
        assert "Access-Control-Allow-Origin" not in other.headers
    finally:
        closed.close()
        opened.close()


def test_oversized_body_is_a_413() -> None:
    small = make_api(MemoryStore(), Settings(max_request_bytes=1000))
    try:
        response = small.client.put(
            "/api/v1/messages", data=b"{" + b" " * 2000 + b"}", content_type="application/json"
        )
        assert response.status_code == 413
        assert response.get_json()["Error"]
    finally:
        small.close()


def test_delete_with_a_form_body_deletes_everything_as_mailpit_does(api: Api) -> None:
    """PyPI mailpit-api-client sends ``ids=...`` as a form; Mailpit reads that as no IDs."""
    kept_by_nobody = api.deliver()
    api.deliver()
    response = api.client.delete("/api/v1/messages", data={"ids": [kept_by_nobody.id]})
    assert response.status_code == 200
    assert api.mailbox.store.count() == 0


@pytest.mark.parametrize("read", [(), (0,), (0, 1, 2, 3, 4, 5), (1, 4)])
@pytest.mark.parametrize("paging", ["", "&limit=1", "&start=1&limit=1", "&limit=2"])
@pytest.mark.parametrize("query", ["invoice", "subject:invoice", "nothing-matches", "example"])
def test_messages_unread_is_exact_whichever_shortcut_answers(
    api_any: Api, read: tuple[int, ...], paging: str, query: str
) -> None:
    delivered = [
        api_any.deliver(subject=f"invoice {n}" if n % 2 else f"hello {n}") for n in range(6)
    ]
    api_any.mailbox.set_read([delivered[n].id for n in read], True)
    body = api_any.get_json(f"/api/v1/search?query={query}{paging}")
    unread = api_any.get_json(f"/api/v1/search?query={query} is:unread")["messages_count"]
    assert body["messages_unread"] == unread
