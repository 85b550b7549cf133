"""The DNS-rebinding Host check stays on when bound to a wildcard address (issue 11.14)."""

from __future__ import annotations

import pytest
from api_helpers import make_api

from mailsink.config import Settings
from mailsink.store import MemoryStore

pytest_plugins = ["conftest_api"]


@pytest.mark.parametrize(
    ("host", "status"),
    [
        ("localhost:8025", 200),
        ("app.localhost:8025", 200),
        ("127.0.0.1:8025", 200),
        ("[::1]:8025", 200),
        ("172.17.0.2:8025", 200),
        ("mailsink:8025", 200),  # a Docker service name
        ("mailsink", 200),
        ("rebind.attacker.example:8025", 400),  # the rebinding attack: a public dotted name
        ("mail.internal", 400),
    ],
)
def test_a_wildcard_bind_without_allowed_hosts_refuses_dotted_names(host: str, status: int) -> None:
    api = make_api(MemoryStore(), Settings(http_host="0.0.0.0"))
    try:
        response = api.client.get("/api/v1/messages", headers={"Host": host})
        assert response.status_code == status, response.get_data(as_text=True)
    finally:
        api.close()


def test_allowed_hosts_lets_a_dotted_name_in_on_a_wildcard_bind() -> None:
    api = make_api(MemoryStore(), Settings(http_host="0.0.0.0", allowed_hosts=("mail.internal",)))
    try:
        get = api.client.get
        assert get("/api/v1/messages", headers={"Host": "mail.internal"}).status_code == 200
        assert get("/api/v1/messages", headers={"Host": "x.example"}).status_code == 400
    finally:
        api.close()
