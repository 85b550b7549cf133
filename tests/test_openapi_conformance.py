"""The OpenAPI document says what the endpoints really return: field for field, type for type.

Each JSON endpoint is called on a mailbox holding a message with every kind
of field filled (addresses, attachments, inline image, tags), and its body is
compared with the 200 schema the document gives for that path: every object
has exactly the documented properties, and every value the documented type.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from api_helpers import Api, make_api, rich_message

from mailsink.config import Settings
from mailsink.store import MemoryStore
from mailsink.web.openapi import openapi_document

_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "array": (list,),
    "object": (dict,),
    "null": (type(None),),
}


def _resolve(doc: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        schema = doc["components"]["schemas"][name]
    return schema


def mismatches(doc: dict[str, Any], schema: dict[str, Any], value: Any, where: str) -> list[str]:
    """Return every place where ``value`` differs from ``schema`` (empty when it conforms)."""
    schema = _resolve(doc, schema)
    if "oneOf" in schema:
        options = [mismatches(doc, option, value, where) for option in schema["oneOf"]]
        return [] if any(not found for found in options) else min(options, key=len)
    kind = schema.get("type")
    if kind is None:
        return []  # documented as "anything" (e.g. a free-form map)
    kinds = kind if isinstance(kind, list) else [kind]
    allowed = tuple(t for k in kinds for t in _TYPES[k])
    if not isinstance(value, allowed) or (isinstance(value, bool) and bool not in allowed):
        return [f"{where}: {type(value).__name__} where the document says {kind}"]
    found: list[str] = []
    if isinstance(value, dict) and "properties" in schema:
        documented, returned = set(schema["properties"]), set(value)
        found += [f"{where}.{key}: returned but not documented" for key in returned - documented]
        found += [f"{where}.{key}: documented but not returned" for key in documented - returned]
        for key in documented & returned:
            found += mismatches(doc, schema["properties"][key], value[key], f"{where}.{key}")
    elif isinstance(value, dict) and isinstance(schema.get("additionalProperties"), dict):
        for key, item in value.items():
            found += mismatches(doc, schema["additionalProperties"], item, f"{where}.{key}")
    elif isinstance(value, list) and "items" in schema:
        for index, item in enumerate(value[:5]):
            found += mismatches(doc, schema["items"], item, f"{where}[{index}]")
    return found


@pytest.fixture
def filled() -> Iterator[tuple[Api, str]]:
    """Yield an Api whose mailbox holds one message with every field filled, and its ID."""
    api = make_api(MemoryStore(), Settings(dns=False))  # the auth check asks no real DNS
    message_id = api.deliver(
        rich_message("conformance@example.test"), rcpts=("bob@example.test", "hidden@example.test")
    ).id
    yield api, message_id
    api.close()


PATHS = [
    ("/api/v1/messages", "/api/v1/messages"),
    ("/api/v1/search?query=subject:Everything", "/api/v1/search"),
    ("/api/v1/message/{ID}", "/api/v1/message/{ID}"),
    ("/api/v1/message/latest", "/api/v1/message/{ID}"),
    ("/api/v1/message/{ID}/headers", "/api/v1/message/{ID}/headers"),
    ("/api/v1/message/{ID}/html-check", "/api/v1/message/{ID}/html-check"),
    ("/api/v1/message/{ID}/auth-check", "/api/v1/message/{ID}/auth-check"),
    ("/api/v1/tags", "/api/v1/tags"),
    ("/api/v1/info", "/api/v1/info"),
    ("/api/v1/webui", "/api/v1/webui"),
    ("/api/v1/wait?timeout=1", "/api/v1/wait"),
    ("/api/v2/messages", "/api/v2/messages"),
    ("/api/v2/search?kind=from&query=alice", "/api/v2/search"),
    ("/livez", "/livez"),
    ("/readyz", "/readyz"),
]


@pytest.mark.parametrize(("url", "path"), PATHS)
def test_every_field_returned_is_documented_with_its_type(
    filled: tuple[Api, str], url: str, path: str
) -> None:
    api, message_id = filled
    doc = openapi_document()
    schema = doc["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    body = api.get_json(url.replace("{ID}", message_id))
    assert mismatches(doc, schema, body, path) == []


def test_the_comparison_finds_an_undocumented_a_missing_and_a_mistyped_field() -> None:
    doc = openapi_document()
    schema = {
        "type": "object",
        "properties": {"ID": {"type": "string"}, "Size": {"type": "integer"}},
    }
    found = mismatches(doc, schema, {"ID": 1, "Extra": True}, "x")
    assert sorted(found) == [
        "x.Extra: returned but not documented",
        "x.ID: int where the document says string",
        "x.Size: documented but not returned",
    ]
