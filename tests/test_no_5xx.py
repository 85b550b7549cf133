"""Nothing a client sends gets a 5xx; a full disk is 507 (API) or 452 (SMTP) (issue 11.8)."""

from __future__ import annotations

import json
import os
import smtplib
from collections.abc import Callable
from pathlib import Path

import pytest
from api_helpers import Api, make_api

from helpers import make_raw
from mailsink.server import Sink
from mailsink.store import SQLiteStore

pytest_plugins = ["conftest_api"]

SENDER = {"From": {"Email": "a@x.test"}, "To": [{"Email": "b@x.test"}]}


def _nested(depth: int) -> bytes:
    raw = b"Content-Type: multipart/mixed; boundary=b0\r\n\r\n"
    for level in range(1, depth):
        raw += b"--b%d\r\nContent-Type: multipart/mixed; boundary=b%d\r\n\r\n" % (level - 1, level)
    return raw + b"--b%d\r\nContent-Type: text/plain\r\n\r\nx\r\n" % (depth - 1)


@pytest.mark.parametrize("depth", [490, 650, 800])
def test_the_parts_tree_of_a_deeply_nested_message_is_not_a_500(api: Api, depth: int) -> None:
    message = api.deliver(_nested(depth))
    for path in (f"/ui/message/{message.id}/tree", f"/api/v1/message/{message.id}"):
        response = api.client.get(path)
        assert response.status_code == 200, (path, response.status_code)


@pytest.mark.parametrize(
    "extra",
    [
        {"Subject": "\ud800"},
        {"Subject": "line\u2028separator"},
        {"Subject": "s", "Headers": {"From": "second@x.test"}},
        {"Subject": "s", "Text": "lone \udc80"},
        {"Subject": "s", "From": {"Email": "a@x.test", "Name": "\ud83d"}},
    ],
)
def test_send_refuses_what_it_cannot_build_with_a_400(api: Api, extra: dict[str, object]) -> None:
    body = json.dumps({**SENDER, **extra})
    response = api.client.post("/api/v1/send", data=body, content_type="application/json")
    assert response.status_code == 400, response.get_data(as_text=True)
    assert response.get_json()["Error"]


def test_lone_surrogates_in_other_bodies_are_a_400(api: Api) -> None:
    message = api.deliver()
    body = json.dumps({"IDs": [message.id], "Tags": ["\ud800"]})
    response = api.client.put("/api/v1/tags", data=body, content_type="application/json")
    assert response.status_code == 400


def _fill_the_disk(db: Path) -> None:
    """Make an open, empty store's first blob segment /dev/full: writes fail with ENOSPC."""
    os.symlink("/dev/full", Path(f"{db}-blobs") / "00000001.seg")


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_a_full_disk_is_507_on_send(tmp_path: Path) -> None:
    db = tmp_path / "m.db"
    api = make_api(SQLiteStore(db).start())
    _fill_the_disk(db)
    try:
        response = api.client.post(
            "/api/v1/send",
            data=json.dumps({**SENDER, "Subject": "s"}),
            content_type="application/json",
        )
        assert response.status_code == 507
        assert "full" in response.get_json()["Error"]
    finally:
        api.close()


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_a_full_disk_is_452_on_smtp(make_sink: Callable[..., Sink], tmp_path: Path) -> None:
    db = tmp_path / "m.db"
    sink = make_sink(store=str(db))
    _fill_the_disk(db)
    with (
        smtplib.SMTP(*sink.smtp_address) as client,
        pytest.raises(smtplib.SMTPDataError) as failure,
    ):
        client.sendmail("a@x.test", ["b@x.test"], make_raw())
    assert failure.value.smtp_code == 452
