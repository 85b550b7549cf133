"""schemathesis, generating requests from Mailpit's own swagger.json, finds no 5xx.

schemathesis (property-based API testing) reads ``tests/mailpit/``'s
document and sends every operation valid, boundary and invalid input; the
only check is ``not_a_server_error``: whatever a client sends, mailsink
answers 2xx or 4xx.  Path parameters are pinned to ``latest`` (a message ID
Mailpit accepts everywhere), part ``2`` (an image) and tag ``t1`` so that
requests reach the handlers instead of stopping at a 404.  Kept short for CI
(``-n 8``, fixed seed); ``MAILSINK_SCHEMATHESIS_EXAMPLES`` runs more.
"""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest
from api_helpers import smtp_send
from PIL import Image

from mailsink.config import Settings
from mailsink.server import Sink

SWAGGER = Path(__file__).parent / "mailpit" / "swagger-v1.30.5.json"
SCHEMATHESIS = str(Path(sys.executable).with_name("schemathesis"))

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not Path(SCHEMATHESIS).exists(), reason="schemathesis is not installed"),
]


def _seed(sink: Sink, count: int = 4) -> None:
    image = io.BytesIO()
    Image.new("RGB", (40, 30), "blue").save(image, "PNG")
    for n in range(count):
        msg = EmailMessage()
        msg["From"] = "Fuzz <fuzz@example.test>"
        msg["To"] = "target@example.test"
        msg["Subject"] = f"seed {n}"
        msg["X-Tags"] = "t1, t2"
        msg.set_content(f"body {n} https://example.test/{n}")
        msg.add_alternative(f"<p>body {n}</p>", subtype="html")
        msg.add_attachment(image.getvalue(), maintype="image", subtype="png", filename="b.png")
        smtp_send(sink, ["target@example.test"], msg.as_bytes())


@pytest.fixture
def sink(tmp_path: Path) -> Iterator[Sink]:
    settings = Settings(smtp_port=0, http_port=0, tls=False, store=str(tmp_path / "fuzz.db"))
    with Sink(settings) as running:
        _seed(running)
        yield running


def test_schemathesis_over_mailpits_swagger_finds_no_server_error(
    sink: Sink, tmp_path: Path
) -> None:
    config = tmp_path / "schemathesis.toml"
    config.write_text('parameters = { ID = "latest", PartID = "2", Tag = "t1" }\n')
    examples = os.environ.get("MAILSINK_SCHEMATHESIS_EXAMPLES", "8")
    result = subprocess.run(
        [
            SCHEMATHESIS, "--config-file", str(config), "run", str(SWAGGER),
            "--url", str(sink.web_url), "--checks", "not_a_server_error",
            "--max-examples", examples, "--seed", "1", "--workers", "1",
        ],
        capture_output=True, text=True, timeout=300, check=False, cwd=tmp_path,
        env={**os.environ, "SCHEMATHESIS_TELEMETRY": "false", "NO_COLOR": "1"},
    )  # fmt: skip
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    # "806 generated, 806 passed": every case, none failed (a 5xx would be a failure).
    assert re.search(r"\b(\d+) generated, \1 passed\b", output), output[-3000:]
