"""``POST /api/v1/send``: build a message from Mailpit's SendRequest JSON and store it.

The message is stored through the same ingestor as SMTP mail (as if it had
been received), so it is announced, searchable and counted like any other.
Every address, header name and value is checked: nothing a client sends can
inject a header line.
"""

from __future__ import annotations

import base64
import binascii
import mimetypes
import re
from email.headerregistry import Address as HeaderAddress
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import formatdate, make_msgid
from typing import Any

from flask import Blueprint, request

from mailsink.message import Envelope
from mailsink.web.errors import ApiError
from mailsink.web.params import json_body
from mailsink.web.state import app_state

bp = Blueprint("api_send", __name__)

MAX_RECIPIENTS = 1000
_HEADER_NAME = re.compile(r"[!-9;-~]{1,100}")  # printable ASCII except ':'
_RESERVED_HEADERS = {
    # Mailpit's list (server/apiv1/send.go): the fields of the SendRequest itself...
    "to", "from", "cc", "bcc", "reply-to", "date", "subject", "content-type", "mime-version",
    # ...and what the MIME structure we build needs.
    "content-transfer-encoding",
}  # fmt: skip
_REPLACEABLE_HEADERS = {"message-id"}
"""Headers we set ourselves that ``Headers`` may override, as in Mailpit."""
_ADDRESS = re.compile(r"[^\s@<>,;\"]+@[^\s@<>,;\"]+")


def _text(value: object, label: str) -> str:
    """Return a string field, refusing other types and line breaks."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ApiError(f"{label} must be a string")
    if "\r" in value or "\n" in value or "\0" in value:
        raise ApiError(f"{label} must not contain line breaks")
    return value


def _email(value: object, label: str) -> str:
    """Return a checked email address."""
    address = _text(value, label).strip()
    if not _ADDRESS.fullmatch(address):
        raise ApiError(f"{label} is not a valid email address: {address[:100]!r}")
    return address


def _person(value: object, label: str) -> HeaderAddress:
    """Return ``{"Email", "Name"}`` (keys in any case) as a header address."""
    if not isinstance(value, dict):
        raise ApiError(f"{label} must be an object with Email and optional Name")
    fields = {str(k).lower(): v for k, v in value.items()}
    address = _email(fields.get("email"), f"{label}.Email")
    name = _text(fields.get("name"), f"{label}.Name")
    user, _, domain = address.rpartition("@")
    try:
        return HeaderAddress(display_name=name, username=user, domain=domain)
    except (ValueError, TypeError) as error:
        raise ApiError(f"{label} is not a valid address: {error}") from None


def _people(value: object, label: str) -> list[HeaderAddress]:
    """Return a list of ``{"Email", "Name"}`` objects as header addresses."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise ApiError(f"{label} must be an array")
    return [_person(item, f"{label}[{i}]") for i, item in enumerate(value)]


def _bcc(value: object) -> list[str]:
    """Return the Bcc list: plain address strings (Mailpit's shape)."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise ApiError("Bcc must be an array of email addresses")
    return [_email(item, f"Bcc[{i}]") for i, item in enumerate(value)]


def _set_header(msg: EmailMessage, name: str, text: str, tagged: bool) -> None:
    """Set one custom header: Mailpit's refusals for fields it sets, ``Message-ID`` replaced."""
    lower = name.lower()
    if lower in _RESERVED_HEADERS or (lower == "x-tags" and tagged):
        raise ApiError(f'cannot overwrite header: "{name[:100]}"')
    if lower in _REPLACEABLE_HEADERS:
        del msg[name]
    try:
        msg[name] = text
    except (ValueError, TypeError) as error:  # a second Sender, a malformed value
        raise ApiError(f"Headers[{name[:100]}]: {error}") from None


def _add_headers(msg: EmailMessage, value: object, tags: object) -> None:
    """Add the custom ``Headers`` and the ``Tags`` (as X-Tags)."""
    if value is not None:
        if not isinstance(value, dict):
            raise ApiError('Headers must be an object such as {"X-Campaign": "spring"}')
        for name, text in value.items():
            if not _HEADER_NAME.fullmatch(str(name)):
                raise ApiError(f"Headers: {str(name)[:100]!r} is not a valid header name")
            _set_header(msg, str(name), _text(text, f"Headers[{name}]"), bool(tags))
    if tags is not None:
        if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
            raise ApiError("Tags must be an array of strings")
        clean = [_text(t, "Tags").replace(",", " ").strip() for t in tags]
        if any(clean):
            msg["X-Tags"] = ", ".join(t for t in clean if t)


def _attachments(value: object) -> list[tuple[bytes, str, str, str]]:
    """Return (data, content type, filename, content ID) for each attachment."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise ApiError("Attachments must be an array")
    found = []
    for i, item in enumerate(value):
        if not isinstance(item, dict):
            raise ApiError(f"Attachments[{i}] must be an object")
        fields = {str(k).lower(): v for k, v in item.items()}
        filename = _text(fields.get("filename"), f"Attachments[{i}].Filename").strip()
        content = fields.get("content")
        if not filename or not isinstance(content, str):
            raise ApiError(f"Attachments[{i}] needs Filename and Content (base64)")
        # Strip a data URL's "data:image/png;base64," as Mailpit does (JS readAsDataURL()).
        content = content.rpartition(",")[2]
        try:
            data = base64.b64decode(content, validate=True)
        except (binascii.Error, ValueError):
            raise ApiError(f"Attachments[{i}].Content is not valid base64") from None
        ctype = _text(fields.get("contenttype"), f"Attachments[{i}].ContentType").strip()
        ctype = ctype or mimetypes.guess_type(filename)[0] or "application/octet-stream"
        if ctype.count("/") != 1:
            raise ApiError(f"Attachments[{i}].ContentType must look like type/subtype")
        cid = _text(fields.get("contentid"), f"Attachments[{i}].ContentID").strip().strip("<>")
        found.append((data, ctype.lower(), filename, cid))
    return found


def build_message(body: dict[str, Any]) -> tuple[bytes, str, list[str]]:
    """Return the raw message, the envelope sender and the recipients of a SendRequest."""
    if body.get("from") is None:
        raise ApiError('From is required, e.g. {"From": {"Email": "app@example.com"}}')
    sender = _person(body.get("from"), "From")
    to, cc = _people(body.get("to"), "To"), _people(body.get("cc"), "Cc")
    reply_to, bcc = _people(body.get("replyto"), "ReplyTo"), _bcc(body.get("bcc"))
    recipients = [a.addr_spec for a in to + cc] + bcc
    if len(recipients) > MAX_RECIPIENTS:
        raise ApiError(f"at most {MAX_RECIPIENTS} recipients")
    msg = EmailMessage(policy=SMTP)
    msg["From"] = sender
    for name, people in (("To", to), ("Cc", cc), ("Reply-To", reply_to)):
        if people:
            msg[name] = people
    msg["Subject"] = _text(body.get("subject"), "Subject")
    msg["Date"] = formatdate(localtime=False)
    msg["Message-ID"] = make_msgid(domain="mailsink")
    _add_headers(msg, body.get("headers"), body.get("tags"))
    text = body.get("text")
    html = body.get("html")
    for label, value in (("Text", text), ("HTML", html)):
        if value is not None and not isinstance(value, str):
            raise ApiError(f"{label} must be a string")
    _set_bodies(msg, text or "", html or "", _attachments(body.get("attachments")))
    return msg.as_bytes(), sender.addr_spec, recipients


def _set_bodies(
    msg: EmailMessage, text: str, html: str, files: list[tuple[bytes, str, str, str]]
) -> None:
    """Set the text and HTML bodies, inline parts (with ContentID) and attachments."""
    if text or not html:
        msg.set_content(text)
    if html:
        if text:
            msg.add_alternative(html, subtype="html")
        else:
            msg.set_content(html, subtype="html")
    inline = [f for f in files if f[3]]
    if inline:
        html_part = msg.get_body(("html",)) or msg.get_body(("plain",))
        assert html_part is not None  # set_content above always makes one
        for data, ctype, filename, cid in inline:
            maintype, subtype = ctype.split("/")
            html_part.add_related(
                data,
                maintype=maintype,
                subtype=subtype,
                cid=f"<{cid}>",
                filename=filename,
                disposition="inline",
            )
    for data, ctype, filename, cid in files:
        if not cid:
            maintype, subtype = ctype.split("/")
            msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)


@bp.post("/api/v1/send")
def send() -> Any:
    """Build a message from a SendRequest, store it as if received, return its ``ID``."""
    if not request.is_json:
        raise ApiError("send a JSON body with Content-Type: application/json", 415)
    try:
        raw, sender, recipients = build_message(json_body(required=True))
    except (ValueError, UnicodeError) as error:  # what the email package refuses to build
        raise ApiError(f"the message cannot be built: {error}") from None
    state = app_state()
    max_size = state.settings.max_size
    if max_size and len(raw) > max_size:
        raise ApiError(f"the message is {len(raw)} bytes, over the limit of {max_size}", 413)
    envelope = Envelope(
        mail_from=sender,
        rcpt_tos=tuple(recipients),
        helo="",
        peer=request.remote_addr or "",
        tls=request.scheme == "https",
        auth_user=None,
    )
    stored = state.ingestor.ingest(raw, envelope)
    return {"ID": stored.id}
