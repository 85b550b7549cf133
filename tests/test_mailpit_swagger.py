"""Every operation of Mailpit v1.30.5's own ``swagger.json`` answers as that document says.

The document is Mailpit's, unchanged (``tests/mailpit/``, MIT, see the
licence file there).  Each operation is called on a real sink holding a
message with every kind of field filled, and each 200 body is validated with
``jsonschema`` against the operation's schema, made stricter in one way:
every property Mailpit documents must be present (Mailpit always sends them
all, and a client reads them without checking).  Our additions (``Envelope``,
``Inline``...) are extra properties, which the document allows.

The sink runs with ``--enable-chaos``.  Three operations need an option this
test does not give (an upstream to relay to, a spamd, permission to fetch
links): for them it checks the clear 4xx that says which option, never a 404
or 5xx; their 200 bodies are the relay and checks suites' business.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from api_helpers import Api, make_api, png, rich_message

from mailsink.config import Settings
from mailsink.store import MemoryStore

SWAGGER = Path(__file__).parent / "mailpit" / "swagger-v1.30.5.json"
DOC: dict[str, Any] = json.loads(SWAGGER.read_text())

NEEDS_OPTION = {
    ("post", "/api/v1/message/{ID}/release"): (400, "--relay"),
    ("get", "/api/v1/message/{ID}/link-check"): (403, "--link-check"),
    ("get", "/api/v1/message/{ID}/sa-check"): (403, "--spamassassin"),
}


PNG_RED_4X4 = png(4, 4)


def _strict(schema: Any) -> Any:
    """Return the schema with every documented property of every object required."""
    if isinstance(schema, dict):
        out = {key: _strict(value) for key, value in schema.items()}
        if isinstance(schema.get("properties"), dict) and schema.get("type", "object") == "object":
            out["required"] = sorted(schema["properties"])
        return out
    if isinstance(schema, list):
        return [_strict(item) for item in schema]
    return schema


DEFINITIONS = _strict(copy.deepcopy(DOC["definitions"]))


def response_schema(method: str, path: str) -> dict[str, Any]:
    """Return an operation's 200 schema, ``#/responses/...`` resolved, definitions beside it."""
    response = DOC["paths"][path][method]["responses"]["200"]
    if "$ref" in response:
        response = DOC["responses"][response["$ref"].rsplit("/", 1)[-1]]
    return {**_strict(response.get("schema", {})), "definitions": DEFINITIONS}


def validate(method: str, path: str, body: Any) -> None:
    """Raise if ``body`` does not match the operation's 200 schema."""
    jsonschema.Draft4Validator(response_schema(method, path)).validate(body)


@pytest.fixture
def filled() -> Iterator[tuple[Api, str]]:
    """Yield an Api whose mailbox holds one rich message, and its ID."""
    api = make_api(MemoryStore(), Settings(enable_chaos=True))
    yield (
        api,
        api.deliver(
            rich_message("swagger@example.test"), rcpts=("bob@example.test", "hid@example.test")
        ).id,
    )
    api.close()


def _operations() -> list[tuple[str, str]]:
    return [(method, path) for path, ops in DOC["paths"].items() for method in ops]


def test_the_document_is_mailpits_v1_30_5_with_its_25_operations() -> None:
    assert DOC["swagger"] == "2.0"
    digest = hashlib.sha256(SWAGGER.read_bytes()).hexdigest()
    assert (
        digest == "77cd5441b66fabfadaee3fafc84e63c927edc0eaed88590d82745c94b663f3ca"
    )  # v1.30.5's file, unchanged
    assert len(_operations()) == 25
    assert (SWAGGER.parent / "LICENSE").read_text().startswith("The MIT License")


def _call(api: Api, message_id: str, method: str, path: str) -> Any:
    """Call one operation with good arguments; return the test client's response."""
    part = api.get_json(f"/api/v1/message/{message_id}?peek=1")["Attachments"][0]["PartID"]
    url = path.replace("{ID}", message_id).replace("{PartID}", part).replace("{Tag}", "alpha")
    client = api.client
    bodies: dict[tuple[str, str], Any] = {
        ("put", "/api/v1/messages"): {"IDs": [message_id], "Read": True},
        ("delete", "/api/v1/messages"): {"IDs": ["nope"]},
        ("post", "/api/v1/send"): {
            "From": {"Email": "app@example.test", "Name": "App"},
            "To": [{"Email": "jane@example.test"}],
            "Subject": "Sent",
            "Text": "Hi",
            "Headers": {"Message-ID": "<chosen@example.test>"},
        },
        ("put", "/api/v1/tags"): {"IDs": [message_id], "Tags": ["alpha", "gamma"]},
        ("put", "/api/v1/tags/{Tag}"): {"Name": "renamed"},
        ("put", "/api/v1/chaos"): {"Sender": {"ErrorCode": 451, "Probability": 0}},
        ("post", "/api/v1/message/{ID}/release"): {"To": ["someone@example.test"]},
    }
    query = {
        "/api/v1/search": {"query": "subject:Everything"},
    }.get(path, {})
    if (method, path) == ("delete", "/api/v1/search"):
        query = {"query": "subject:nothing-matches"}
    return client.open(
        url, method=method.upper(), json=bodies.get((method, path)), query_string=query
    )


@pytest.mark.parametrize(("method", "path"), _operations())
def test_every_operation_answers_200_with_a_body_that_matches_mailpits_schema(
    filled: tuple[Api, str], method: str, path: str
) -> None:
    if (method, path) in NEEDS_OPTION:
        pytest.skip(f"needs {NEEDS_OPTION[method, path][1]}: see the test below")
    api, message_id = filled
    response = _call(api, message_id, method, path)
    assert response.status_code == 200, response.get_data(as_text=True)
    produces = DOC["paths"][path][method].get("produces", DOC["produces"])
    if response_schema(method, path).get("type") == "string":  # "ok", raw, HTML, binary
        produces = [*produces, "text/plain"]  # DELETE /search says JSON but sends "ok"
    if "application/json" in produces and response.is_json:
        validate(method, path, response.get_json())
    else:  # text or binary: the type Mailpit documents, and a string body (its schema)
        kinds = {kind.split("/")[0] for kind in produces}
        assert response.mimetype.split("/")[0] in kinds | {"application"}, response.mimetype
        assert response.data
        if response.mimetype.startswith("text/"):
            validate(method, path, response.get_data(as_text=True))


@pytest.mark.parametrize(("method", "path"), list(NEEDS_OPTION))
def test_an_operation_that_needs_an_option_says_which_never_a_404_or_5xx(
    filled: tuple[Api, str], method: str, path: str
) -> None:
    api, message_id = filled
    status, option = NEEDS_OPTION[method, path]
    response = _call(api, message_id, method, path)
    assert response.status_code == status
    assert option in response.get_json()["Error"]


def test_the_validation_finds_a_missing_and_a_mistyped_field(filled: tuple[Api, str]) -> None:
    api, _message_id = filled
    body = api.get_json("/api/v1/messages")
    validate("get", "/api/v1/messages", body)
    del body["messages_unread"]
    with pytest.raises(jsonschema.ValidationError, match="messages_unread"):
        validate("get", "/api/v1/messages", body)
    body = api.get_json("/api/v1/messages")
    body["messages"][0]["Size"] = "big"
    with pytest.raises(jsonschema.ValidationError, match="big"):
        validate("get", "/api/v1/messages", body)
