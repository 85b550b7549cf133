"""MailHog v2 compatibility: list, search and delete in MailHog's shapes."""

from __future__ import annotations

import pytest
from api_helpers import Api

pytest_plugins = ["conftest_api"]

MULTIPART = (
    b"From: Alice <alice@example.test>\r\nTo: bob@example.test\r\nSubject: Parts\r\n"
    b'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="b"\r\n\r\n'
    b"--b\r\nContent-Type: text/plain; charset=utf-8\r\n"
    b"Content-Transfer-Encoding: quoted-printable\r\n\r\nGr=C3=BC=C3=9Fe\r\n"
    b'--b\r\nContent-Type: text/csv\r\nContent-Disposition: attachment; filename="a.csv"\r\n'
    b"Content-Transfer-Encoding: base64\r\n\r\nYSxiCg==\r\n--b--\r\n"
)


def test_v2_messages_has_mailhog_shape(api_any: Api) -> None:
    stored = api_any.deliver(MULTIPART, rcpts=("bob@example.test", "hidden@example.test"))
    data = api_any.get_json("/api/v2/messages")
    assert (data["total"], data["count"], data["start"]) == (1, 1, 0)
    item = data["items"][0]
    assert item["ID"] == stored.id
    assert item["From"] == {
        "Relays": None,
        "Mailbox": "alice",
        "Domain": "example.test",
        "Params": "",
    }
    assert [f"{t['Mailbox']}@{t['Domain']}" for t in item["To"]] == [
        "bob@example.test",
        "hidden@example.test",
    ]
    assert item["Content"]["Headers"]["Subject"] == ["Parts"]
    assert item["Content"]["Size"] == len(MULTIPART)
    parts = item["MIME"]["Parts"]
    assert parts[0]["Body"].strip() == "Gr=C3=BC=C3=9Fe"
    assert parts[0]["Headers"]["Content-Transfer-Encoding"] == ["quoted-printable"]
    assert parts[1]["Headers"]["Content-Disposition"] == ['attachment; filename="a.csv"']
    assert item["Raw"]["Data"] == MULTIPART.decode()
    assert item["Raw"]["From"] == "alice@example.test"
    assert item["Raw"]["Helo"] == "client.test"


def test_v2_messages_pages_and_caps_the_limit(api: Api) -> None:
    for i in range(3):
        api.deliver(subject=f"m{i}")
    data = api.get_json("/api/v2/messages?start=1&limit=1")
    assert (data["total"], data["count"], data["start"]) == (3, 1, 1)
    assert api.client.get("/api/v2/messages?limit=100000").status_code == 400


def test_v2_search_by_kind(api_any: Api) -> None:
    from_carol = api_any.deliver(sender="carol@example.test", subject="one")
    to_dave = api_any.deliver(to="dave@example.test", rcpts=("dave@example.test",))
    bcc_erin = api_any.deliver(rcpts=("bob@example.test", "erin@example.test"), body="needle")

    def ids(kind: str, query: str) -> list[str]:
        data = api_any.get_json(f"/api/v2/search?kind={kind}&query={query}")
        assert data["count"] == len(data["items"])
        return [item["ID"] for item in data["items"]]

    assert ids("from", "carol") == [from_carol.id]
    assert ids("to", "dave@example.test") == [to_dave.id]
    assert ids("to", "erin") == [bcc_erin.id]
    assert ids("containing", "needle") == [bcc_erin.id]
    assert ids("to", "bob@example.test") == [bcc_erin.id, from_carol.id]


@pytest.mark.parametrize(
    "query",
    ["kind=any&query=x", "kind=to", "kind=to&query=" + "x" * 2000, "kind=to&query=x&limit=-1"],
)
def test_v2_search_bad_requests_are_400(api: Api, query: str) -> None:
    response = api.client.get(f"/api/v2/search?{query}")
    assert response.status_code == 400
    assert response.get_json()["Error"]


def test_v1_delete_one_message_and_404_for_unknown(api: Api) -> None:
    stored = api.deliver()
    kept = api.deliver()
    response = api.client.delete(f"/api/v1/messages/{stored.id}")
    assert response.status_code == 200
    assert response.data == b""
    assert [m.id for m in api.mailbox.store.list().items] == [kept.id]
    assert api.client.delete(f"/api/v1/messages/{stored.id}").status_code == 404
