"""POST /api/v1/send: build a message from Mailpit's SendRequest and store it."""

from __future__ import annotations

import base64

import pytest
from api_helpers import Api

pytest_plugins = ["conftest_api"]


def test_send_stores_a_message_with_every_field(api: Api) -> None:
    response = api.client.post(
        "/api/v1/send",
        json={
            "From": {"Email": "app@example.test", "Name": "The App"},
            "To": [{"Email": "jane@example.test", "Name": "Jane"}],
            "Cc": [{"Email": "cc@example.test"}],
            "Bcc": ["hidden@example.test"],
            "ReplyTo": [{"Email": "reply@example.test"}],
            "Subject": "Welcome",
            "Text": "Hello Jane",
            "HTML": '<p>Hello <b>Jane</b> <img src="cid:logo"></p>',
            "Headers": {"X-Campaign": "spring"},
            "Tags": ["onboarding", "Tag 2"],
            "Attachments": [
                {"Content": base64.b64encode(b"a,b\n").decode(), "Filename": "data.csv"},
                {
                    "Content": base64.b64encode(b"PNG").decode(),
                    "Filename": "logo.png",
                    "ContentID": "logo",
                },
            ],
        },
    )
    assert response.status_code == 200, response.get_json()
    message_id = response.get_json()["ID"]
    data = api.get_json(f"/api/v1/message/{message_id}")
    assert data["From"] == {"Name": "The App", "Address": "app@example.test"}
    assert data["To"] == [{"Name": "Jane", "Address": "jane@example.test"}]
    assert data["Cc"] == [{"Name": "", "Address": "cc@example.test"}]
    assert {"Name": "", "Address": "hidden@example.test"} in data["Bcc"]
    assert data["ReplyTo"] == [{"Name": "", "Address": "reply@example.test"}]
    assert data["Subject"] == "Welcome"
    assert data["Text"].strip() == "Hello Jane"
    assert "<b>Jane</b>" in data["HTML"]
    assert sorted(data["Tags"]) == ["Tag 2", "onboarding"]
    assert [a["FileName"] for a in data["Attachments"]] == ["data.csv"]
    assert data["Attachments"][0]["ContentType"] == "text/csv"
    assert [p["ContentID"] for p in data["Inline"]] == ["logo"]
    assert data["Envelope"]["MailFrom"] == "app@example.test"
    assert data["Envelope"]["RcptTo"] == [
        "jane@example.test",
        "cc@example.test",
        "hidden@example.test",
    ]
    headers = api.get_json(f"/api/v1/message/{message_id}/headers")
    assert headers["X-Campaign"] == ["spring"]


def test_sent_message_is_found_by_search(api: Api) -> None:
    api.client.post(
        "/api/v1/send",
        json={"from": {"email": "a@example.test"}, "to": [{"email": "z@example.test"}]},
    )
    assert api.get_json("/api/v1/search?query=to:z@example.test")["messages_count"] == 1


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "From is required"),
        ({"From": "a@example.test"}, "From must be an object"),
        ({"From": {"Email": "not an address"}}, "not a valid email address"),
        ({"From": {"Email": "a@x.test\r\nBcc: v@x.test"}}, "line breaks"),
        ({"From": {"Email": "a@x.test"}, "Subject": "Hi\r\nBcc: v@x.test"}, "line breaks"),
        ({"From": {"Email": "a@x.test"}, "To": {"Email": "b@x.test"}}, "To must be an array"),
        ({"From": {"Email": "a@x.test"}, "Bcc": [{"Email": "b@x.test"}]}, "Bcc[0]"),
        ({"From": {"Email": "a@x.test"}, "Headers": {"Bad Name": "x"}}, "not a valid header"),
        ({"From": {"Email": "a@x.test"}, "Headers": {"X-A": "1\n2"}}, "line breaks"),
        ({"From": {"Email": "a@x.test"}, "Headers": {"Content-Type": "x"}}, "cannot overwrite"),
        ({"From": {"Email": "a@x.test"}, "Headers": {"subject": "x"}}, "cannot overwrite"),
        ({"From": {"Email": "a@x.test"}, "Headers": {"To": "x@y.test"}}, "cannot overwrite"),
        ({"From": {"Email": "a@x.test"}, "Headers": {"Sender": "a", "sender": "b"}}, "sender"),
        ({"From": {"Email": "a@x.test"}, "Tags": "x"}, "Tags must be an array"),
        ({"From": {"Email": "a@x.test"}, "Text": 5}, "Text must be a string"),
        (
            {"From": {"Email": "a@x.test"}, "Attachments": [{"Filename": "a", "Content": "%%"}]},
            "not valid base64",
        ),
        ({"From": {"Email": "a@x.test"}, "Attachments": [{"Content": "AA=="}]}, "Filename"),
    ],
)
def test_bad_send_request_is_a_400(api: Api, body: object, message: str) -> None:
    response = api.client.post("/api/v1/send", json=body)
    assert response.status_code == 400
    assert message in response.get_json()["Error"]
    assert api.mailbox.store.count() == 0


def test_send_needs_a_json_content_type(api: Api) -> None:
    response = api.client.post(
        "/api/v1/send", data='{"From": {"Email": "a@x.test"}}', content_type="text/plain"
    )
    assert response.status_code == 415


def test_send_get_is_a_405(api: Api) -> None:
    assert api.client.get("/api/v1/send").status_code == 405


def test_a_message_id_header_replaces_the_generated_one(api: Api) -> None:
    """npm mailpit-api's sendMessage with Headers: {"Message-ID": ...} was a 500."""
    body = {
        "From": {"Email": "a@x.test"},
        "To": [{"Email": "b@x.test"}],
        "Headers": {"Message-ID": "<chosen@example.test>"},
    }
    response = api.client.post("/api/v1/send", json=body)
    assert response.status_code == 200, response.get_data(as_text=True)
    message = api.get_json(f"/api/v1/message/{response.get_json()['ID']}")
    assert message["MessageID"] == "chosen@example.test"
    raw = api.client.get(f"/api/v1/message/{message['ID']}/raw").data
    assert raw.lower().count(b"message-id:") == 1


def test_a_data_url_attachment_prefix_is_stripped(api: Api) -> None:
    body = {
        "From": {"Email": "a@x.test"},
        "To": [{"Email": "b@x.test"}],
        "Attachments": [{"Filename": "a.txt", "Content": "data:text/plain;base64,aGVsbG8="}],
    }
    response = api.client.post("/api/v1/send", json=body)
    assert response.status_code == 200, response.get_data(as_text=True)
    message = api.get_json(f"/api/v1/message/{response.get_json()['ID']}")
    part = message["Attachments"][0]["PartID"]
    assert api.client.get(f"/api/v1/message/{message['ID']}/part/{part}").data == b"hello"


@pytest.mark.parametrize(
    "fields",
    [
        '"Subject": "\\ud800"',
        '"From": {"Email": "a@x.test", "Name": "\\udfff"}',
        '"Text": "a\\ud800b"',
        '"HTML": "\\ud800"',
        '"Tags": ["\\ud800"]',
        '"Attachments": [{"Filename": "\\ud800.txt", "Content": "AA=="}]',
        '"Headers": {"X-A": "\\ud800"}',
    ],
)
def test_a_lone_utf16_surrogate_is_a_400_not_a_500(api: Api, fields: str) -> None:
    """JSON may spell half a surrogate pair, which no UTF-8 can carry: refused, never a 500."""
    body = '{"From": {"Email": "a@x.test"}, "To": [{"Email": "b@x.test"}], ' + fields + "}"
    # (a second "From" key wins, as in json.loads and Go)
    response = api.client.post("/api/v1/send", data=body, content_type="application/json")
    assert response.status_code == 400, response.get_data(as_text=True)
    assert "surrogate" in response.get_json()["Error"]


def test_a_lone_surrogate_in_a_tag_is_a_400(api: Api) -> None:
    message = api.deliver()
    response = api.client.put(
        "/api/v1/tags",
        data='{"IDs": ["' + message.id + '"], "Tags": ["x\\ud800"]}',
        content_type="application/json",
    )
    assert response.status_code == 400
    assert api.get_json("/api/v1/tags") == []
