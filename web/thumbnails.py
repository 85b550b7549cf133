"""``GET /api/v1/message/{ID}/part/{PartID}/thumb``: a 180x120 JPEG of an image part.

As Mailpit's: the image is scaled to cover 180x120 and cropped to its centre,
on white (transparent pixels become white), as a JPEG.  The decoder is Pillow;
before it decodes anything, the image's header is read and an image over
``MAX_PIXELS`` (20 megapixels, Mailpit GHSA-75mr-qw9x-3r39) or a part over
``MAX_INPUT`` bytes is refused with 400, so a small attachment that unpacks to
gigabytes (a decompression bomb) never reaches the decoder.  A part that is
not an image, or that Pillow cannot read, is also 400 - the one refusal
Mailpit's swagger documents for this operation.
"""

from __future__ import annotations

import io
import warnings

from flask import Blueprint, Response
from PIL import Image, ImageOps, UnidentifiedImageError

from mailsink.mime import parse_message
from mailsink.web.errors import ApiError
from mailsink.web.params import get_message, mailbox

bp = Blueprint("api_thumbnails", __name__)

WIDTH, HEIGHT = 180, 120
MAX_PIXELS = 20_000_000
MAX_INPUT = 25 * 1024 * 1024
FORMATS = ("PNG", "JPEG", "GIF", "WEBP", "BMP", "TIFF")
"""What is decoded: the common web formats (not every format Pillow has a plug-in for)."""


def thumbnail(data: bytes) -> bytes:
    """Return a 180x120 JPEG of an image, or raise ApiError (400) for what is not one."""
    if len(data) > MAX_INPUT:
        raise ApiError(f"the image is over {MAX_INPUT // (1024 * 1024)} MB", 400)
    too_big = ApiError(f"the image is over {MAX_PIXELS // 1_000_000} megapixels", 400)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=FORMATS) as image:  # the header only
                width, height = image.size
                if width * height > MAX_PIXELS:
                    raise too_big
                image.draft("RGB", (WIDTH * 2, HEIGHT * 2))  # JPEG: decode at a smaller scale
                frame = image.convert("RGBA")
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise too_big from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError) as error:
        raise ApiError(f"the part is not an image that can be shown: {error}"[:200], 400) from None
    background = Image.new("RGBA", frame.size, "white")
    flat = Image.alpha_composite(background, frame).convert("RGB")
    fitted = ImageOps.fit(flat, (WIDTH, HEIGHT), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    fitted.save(out, "JPEG", quality=85)
    return out.getvalue()


@bp.get("/api/v1/message/<message_id>/part/<part_id>/thumb")
def get_thumbnail(message_id: str, part_id: str) -> Response:
    """Return a JPEG thumbnail of an image attachment or inline image."""
    message = get_message(message_id)
    raw = mailbox().store.raw(message.id)
    if raw is None:
        raise ApiError(f"message {message.id!r} not found", 404)
    part = parse_message(raw).parts.get(part_id)
    if part is None:
        raise ApiError(f"part {part_id[:40]!r} not found in message {message.id}", 404)
    if not part.content_type.startswith("image/"):
        raise ApiError(f"part {part.part_id} is {part.content_type[:60]}, not an image", 400)
    response = Response(thumbnail(part.payload), mimetype="image/jpeg")
    response.headers["Cache-Control"] = "private, max-age=3600"
    return response
