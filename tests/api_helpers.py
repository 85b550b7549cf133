"""Helpers for the JSON API tests: an app over a real mailbox, real servers, SMTP sending.

The fixtures built on them live in ``conftest_api.py``.
"""

from __future__ import annotations

import io
import smtplib
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from PIL import Image

from mailsink.config import Settings
from mailsink.ingest import Ingestor
from mailsink.mailbox import Mailbox
from mailsink.message import Envelope
from mailsink.server import Sink
from mailsink.store import MessageStore
from mailsink.store.base import StoredMessage
from mailsink.web import create_app


def raw_message(
    subject: str = "Hello",
    sender: str = "Alice <alice@example.test>",
    to: str = "Bob <bob@example.test>",
    body: str = "Hi Bob",
    headers: str = "",
) -> bytes:
    """Return a small text message as CRLF bytes."""
    text = f"From: {sender}\r\nTo: {to}\r\nSubject: {subject}\r\n{headers}\r\n{body}\r\n"
    return text.encode()


@dataclass
class Api:
    """A Flask test client over a real mailbox, and a way to deliver mail into it."""

    app: Flask
    client: FlaskClient
    mailbox: Mailbox
    ingestor: Ingestor
    delivered: list[StoredMessage] = field(default_factory=list)

    def deliver(
        self,
        raw: bytes | None = None,
        rcpts: tuple[str, ...] = ("bob@example.test",),
        mail_from: str = "alice@example.test",
        **fields: str,
    ) -> StoredMessage:
        """Store a message as the SMTP listener would, and return it."""
        data = raw if raw is not None else raw_message(**fields)
        envelope = Envelope(mail_from, rcpts, helo="client.test", peer="127.0.0.1:1234")
        stored = self.ingestor.ingest(data, envelope)
        self.delivered.append(stored)
        return stored

    def get_json(self, path: str, status: int = 200) -> Any:
        """GET a path and return its JSON, checking the status."""
        response = self.client.get(path)
        assert response.status_code == status, response.get_data(as_text=True)
        return response.get_json()

    def close(self) -> None:
        """Stop the ingest thread and close the store."""
        self.ingestor.close()
        self.mailbox.store.close()


def make_api(store: MessageStore, settings: Settings | None = None) -> Api:
    """Build an Api over a store."""
    mailbox = Mailbox(store)
    ingestor = Ingestor(mailbox).start()
    app = create_app(mailbox, settings or Settings(), ingestor=ingestor)
    app.config["TESTING"] = True
    return Api(app, app.test_client(), mailbox, ingestor)


@dataclass
class Served:
    """An app served by waitress on a free port (what production runs)."""

    api: Api
    host: str
    port: int

    @property
    def url(self) -> str:
        """Return the base URL."""
        return f"http://{self.host}:{self.port}"


def smtp_send(
    sink: Sink, rcpts: list[str], raw: bytes, mail_from: str = "alice@example.test"
) -> None:
    """Send one message to the sink over a real SMTP socket."""
    host, port = sink.smtp_address
    with smtplib.SMTP(host, port, timeout=10) as client:
        client.sendmail(mail_from, rcpts, raw)


def png(width: int, height: int) -> bytes:
    """Return a real red PNG image (thumbnails and image parts need one that decodes)."""
    out = io.BytesIO()
    Image.new("RGB", (width, height), "red").save(out, "PNG")
    return out.getvalue()


def rich_message(message_id: str) -> bytes:
    """Return a message with every field the API reports filled in.

    From, To, Cc, Reply-To, tags, List-Unsubscribe, a text and an HTML body, an
    inline image the HTML refers to by ``cid:``, and an attached image: the schema
    checks see no field empty or missing for want of data.
    """
    image = png(4, 4)
    msg = EmailMessage()
    msg["From"] = "Alice <alice@example.test>"
    msg["To"] = "Bob <bob@example.test>, carol@example.test"
    msg["Cc"] = "Dave <dave@example.test>"
    msg["Reply-To"] = "replies@example.test"
    msg["Subject"] = "Everything filled in"
    msg["Message-ID"] = f"<{message_id}>"
    msg["X-Tags"] = "alpha, beta"
    msg["List-Unsubscribe"] = "<https://example.test/unsub>"
    msg.set_content("Plain text body")
    msg.add_alternative('<p>HTML body <img src="cid:pixel"></p>', subtype="html")
    html_part = msg.get_body(("html",))
    assert isinstance(html_part, EmailMessage)
    html_part.add_related(image, "image", "png", cid="<pixel>")
    msg.add_attachment(image, maintype="image", subtype="png", filename="red.png")
    return msg.as_bytes()
