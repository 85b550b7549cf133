"""Thumbnails of image parts: Mailpit's 180x120 JPEG, and the images that are refused."""

from __future__ import annotations

import io
import time
from email.message import EmailMessage

import pytest
from api_helpers import Api
from PIL import Image

pytest_plugins = ["conftest_api"]


def _image(kind: str, size: tuple[int, int], mode: str = "RGB") -> bytes:
    out = io.BytesIO()
    Image.new(mode, size, "white" if mode == "1" else (200, 30, 30)).save(out, kind)
    return out.getvalue()


def _with_attachment(api: Api, data: bytes, ctype: str = "image/png") -> tuple[str, str]:
    msg = EmailMessage()
    msg["From"] = "a@example.test"
    msg["Subject"] = "picture"
    msg.set_content("see attached")
    maintype, subtype = ctype.split("/")
    msg.add_attachment(data, maintype=maintype, subtype=subtype, filename="file")
    stored = api.deliver(msg.as_bytes())
    part = api.get_json(f"/api/v1/message/{stored.id}?peek=1")["Attachments"][0]["PartID"]
    return stored.id, part


@pytest.mark.parametrize(
    ("kind", "size", "mode"),
    [("PNG", (640, 480), "RGBA"), ("JPEG", (100, 400), "RGB"), ("GIF", (30, 20), "P")],
)
def test_an_image_part_gets_a_180x120_jpeg(
    api: Api, kind: str, size: tuple[int, int], mode: str
) -> None:
    message_id, part = _with_attachment(api, _image(kind, size, mode), f"image/{kind.lower()}")
    response = api.client.get(f"/api/v1/message/{message_id}/part/{part}/thumb")
    assert response.status_code == 200
    assert response.mimetype == "image/jpeg"
    with Image.open(io.BytesIO(response.data)) as thumb:
        assert (thumb.format, thumb.size) == ("JPEG", (180, 120))


def test_a_decompression_bomb_is_refused_before_it_is_decoded(api: Api) -> None:
    """Mailpit GHSA-75mr-qw9x-3r39: a small PNG that unpacks to 25 megapixels (> 20)."""
    bomb = _image("PNG", (5000, 5000), "1")
    assert len(bomb) < 100_000
    message_id, part = _with_attachment(api, bomb)
    began = time.perf_counter()
    response = api.client.get(f"/api/v1/message/{message_id}/part/{part}/thumb")
    assert time.perf_counter() - began < 1.0
    assert response.status_code == 400
    assert "megapixels" in response.get_json()["Error"]


def test_a_bomb_beyond_pillows_own_limit_is_refused_too(api: Api) -> None:
    """Over Pillow's warning threshold (89 MP): its warning must not become a 500."""
    message_id, part = _with_attachment(api, _image("PNG", (10000, 10000), "1"))
    response = api.client.get(f"/api/v1/message/{message_id}/part/{part}/thumb")
    assert response.status_code == 400


@pytest.mark.parametrize(
    ("data", "ctype"),
    [(b"%PDF-1.4 not an image", "application/pdf"), (b"\x89PNG\r\n\x1a\nbroken", "image/png")],
)
def test_a_part_that_is_not_an_image_is_a_400(api: Api, data: bytes, ctype: str) -> None:
    message_id, part = _with_attachment(api, data, ctype)
    response = api.client.get(f"/api/v1/message/{message_id}/part/{part}/thumb")
    assert response.status_code == 400
    assert response.get_json()["Error"]


def test_an_unknown_message_or_part_is_a_404(api: Api) -> None:
    message_id, _part = _with_attachment(api, _image("PNG", (10, 10)))
    assert api.client.get(f"/api/v1/message/{message_id}/part/9/thumb").status_code == 404
    assert api.client.get("/api/v1/message/NOPE/part/2/thumb").status_code == 404
