"""The message as files (/view/ID.eml, .html?dl=1, .txt?dl=1) and the HTML view's policy."""

from __future__ import annotations

from api_helpers import Api, rich_message

pytest_plugins = ["conftest_api"]


def test_downloads_are_attachments_with_the_bytes_the_api_gives(api: Api) -> None:
    stored = api.deliver(rich_message("dl@example.test"))
    message = api.get_json(f"/api/v1/message/{stored.id}?peek=1")  # not read
    expected = {
        ".eml": (api.client.get(f"/api/v1/message/{stored.id}/raw").data, "message/rfc822"),
        ".html?dl=1": (message["HTML"].encode(), "text/html"),
        ".txt?dl=1": (message["Text"].encode(), "text/plain"),
    }
    for suffix, (body, mimetype) in expected.items():
        response = api.client.get(f"/view/{stored.id}{suffix}")
        assert response.status_code == 200, suffix
        assert response.data == body, suffix
        assert response.mimetype == mimetype, suffix
        extension = suffix.split("?")[0]
        disposition = response.headers["Content-Disposition"]
        assert disposition == f'attachment; filename="{stored.id}{extension}"', suffix
        policy = response.headers["Content-Security-Policy"]
        assert policy.startswith("sandbox;") and "default-src 'none'" in policy, suffix
    assert api.client.get("/view/latest.eml").data == expected[".eml"][0]
    assert api.mailbox.store.get(stored.id).read is False  # type: ignore[union-attr]


def test_downloads_of_what_is_not_there_are_404s(api: Api) -> None:
    text_only = api.deliver()
    assert api.client.get(f"/view/{text_only.id}.html?dl=1").status_code == 404
    assert api.client.get("/view/NOPE.eml").status_code == 404
    assert api.client.get("/view/NOPE.txt?dl=1").status_code == 404


def test_the_html_view_runs_no_script_and_loads_only_its_own_parts(api: Api) -> None:
    stored = api.deliver(rich_message("csp@example.test"))
    policy = api.client.get(f"/view/{stored.id}.html").headers["Content-Security-Policy"]
    directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
    sandbox = directives["sandbox"].split()
    assert "allow-scripts" not in sandbox and "allow-same-origin" in sandbox
    assert directives["script-src"] == "'none'"
    assert directives["default-src"] == "'none'"
    assert directives["img-src"] == f"data: cid: http://localhost/api/v1/message/{stored.id}/part/"


def test_the_api_refuses_to_be_loaded_as_a_subresource_even_from_its_own_origin(
    api: Api,
) -> None:
    """The view shares the UI's origin: an <img> of a message would read and mark it."""
    stored = api.deliver(rich_message("img@example.test"))
    same = {"Sec-Fetch-Site": "same-origin"}
    for dest in ("image", "style", "font", "iframe", "script", "video", "object"):
        response = api.client.get(
            f"/api/v1/message/{stored.id}", headers={**same, "Sec-Fetch-Dest": dest}
        )
        assert response.status_code == 403, dest
        assert "Sec-Fetch-Dest" in response.get_json()["Error"]
    assert api.mailbox.store.get(stored.id).read is False  # type: ignore[union-attr]
    for dest in ("empty", "document"):
        headers = {**same, "Sec-Fetch-Dest": dest}
        assert api.client.get("/api/v1/messages", headers=headers).status_code == 200, dest
    part = api.client.get(
        f"/api/v1/message/{stored.id}/part/2", headers={**same, "Sec-Fetch-Dest": "image"}
    )
    assert part.status_code == 200  # the view's own inline images
    assert (
        api.client.get(f"/view/{stored.id}.html", headers={"Sec-Fetch-Dest": "iframe"}).status_code
        == 200
    )
