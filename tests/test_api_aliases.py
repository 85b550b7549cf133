"""Mailpit's paths users hit: the spec at /api/v1/swagger.json, UI links under /view/."""

from __future__ import annotations

from api_helpers import Api

from mailsink.web.openapi import openapi_document

pytest_plugins = ["conftest_api"]


def test_the_openapi_document_is_also_at_mailpits_path(api: Api) -> None:
    assert api.get_json("/api/v1/swagger.json") == api.get_json("/api/v1/openapi.json")
    assert api.get_json("/api/v1/swagger.json")["openapi"] == openapi_document()["openapi"]


def test_view_id_and_view_latest_redirect_to_the_message_page(api: Api) -> None:
    api.deliver(subject="old")
    newest = api.deliver(subject="new")
    response = api.client.get(f"/view/{newest.id}")
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/message/{newest.id}")
    assert api.client.get("/view/latest").headers["Location"].endswith(f"/message/{newest.id}")
    assert api.client.get("/view/NOPE").status_code == 404
    assert api.client.get(f"/view/{newest.id}.txt").status_code == 200  # still the view


def test_view_latest_of_an_empty_mailbox_goes_to_the_inbox(api: Api) -> None:
    response = api.client.get("/view/latest")
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/")
