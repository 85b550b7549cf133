"""One delivery attempt to the upstream, over SMTP with STARTTLS, SMTPS or neither, and AUTH.

``smtplib`` is enough: an attempt runs on the relayer's thread (or a web
request's, for a release), never on the SMTP listener's event loop.  What the
upstream answers is classified the way a mail server would treat it:

* ``sent`` - every recipient accepted (or those refused were refused for good);
* ``deferred`` - a 4xx reply, or the network failed (refused, reset, timed
  out, TLS broke): worth trying again later;
* ``failed`` - a 5xx reply (also a missing STARTTLS or refused AUTH): trying
  again will not help.

The reply text kept and shown is the upstream's, cut to one line and 500
characters; the password never enters it (smtplib does not echo it, and our
own messages name the upstream with ``Upstream.display()``).
"""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass, field

from mailsink.relay.settings import Upstream
from mailsink.smtp_client import open_session
from mailsink.store.relays import Result

MAX_REPLY = 500


@dataclass(frozen=True, slots=True)
class Outcome:
    """How one attempt ended."""

    result: Result
    reply: str
    retry: tuple[str, ...] = field(default=())
    """Recipients refused with 4xx while others were accepted: to try again."""


def _text(reply: bytes | str) -> str:
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply
    return " ".join(text.split())[:MAX_REPLY]


def _tls_context(upstream: Upstream) -> ssl.SSLContext:
    context = ssl.create_default_context()
    if not upstream.verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def _connect(upstream: Upstream, hostname: str, timeout: float) -> smtplib.SMTP:
    """Open the session, secured as configured, and log in when a user is set."""
    return open_session(
        upstream.host,
        upstream.port,
        timeout=timeout,
        security=upstream.security,
        tls_context=_tls_context(upstream) if upstream.security != "plain" else None,
        user=upstream.user,
        password=upstream.password,
        local_hostname=hostname,
    )


def deliver(
    upstream: Upstream,
    mail_from: str,
    rcpt_tos: tuple[str, ...],
    data: bytes,
    hostname: str,
    timeout: float = 30.0,
) -> Outcome:
    """Send ``data`` to ``rcpt_tos`` through the upstream once; classify what happened."""
    try:
        client = _connect(upstream, hostname, timeout)
    except smtplib.SMTPNotSupportedError:
        return Outcome("failed", f"{upstream.display()} does not offer STARTTLS")
    except smtplib.SMTPResponseException as error:
        return _from_code(error.smtp_code, error.smtp_error)
    except (smtplib.SMTPException, OSError) as error:
        return Outcome("deferred", _text(f"cannot reach {upstream.display()}: {error}"))
    try:
        return _send(client, upstream, mail_from, rcpt_tos, data)
    finally:
        try:
            client.quit()
        except (smtplib.SMTPException, OSError):
            client.close()


def _send(
    client: smtplib.SMTP,
    upstream: Upstream,
    mail_from: str,
    rcpt_tos: tuple[str, ...],
    data: bytes,
) -> Outcome:
    """Run MAIL, RCPT and DATA on an open session; classify the replies."""
    try:
        options = _mail_options(client, mail_from, rcpt_tos, data)
        refused = client.sendmail(mail_from, list(rcpt_tos), data, mail_options=options)
    except smtplib.SMTPRecipientsRefused as error:
        codes = [code for code, _ in error.recipients.values()]
        first = next(iter(error.recipients.values()))
        temporary = all(400 <= c < 500 for c in codes)
        return Outcome("deferred" if temporary else "failed", _from_code(*first).reply)
    except smtplib.SMTPResponseException as error:
        return _from_code(error.smtp_code, error.smtp_error)
    except (smtplib.SMTPException, OSError) as error:
        return Outcome("deferred", _text(f"{upstream.display()}: {error}"))
    if refused:
        retry = tuple(r for r, (code, _) in refused.items() if 400 <= code < 500)
        lost = ", ".join(f"{r} ({code} {_text(text)})" for r, (code, text) in refused.items())
        return Outcome("sent", _text(f"250 accepted; refused: {lost}"), retry)
    return Outcome("sent", "250 accepted")


def _from_code(code: int, text: bytes | str) -> Outcome:
    reply = _text(f"{code} {_text(text)}")
    return Outcome("deferred" if 400 <= code < 500 else "failed", reply)


def _mail_options(
    client: smtplib.SMTP, mail_from: str, rcpt_tos: tuple[str, ...], data: bytes
) -> list[str]:
    """Ask for 8BITMIME / SMTPUTF8 when the message or addresses need them and it is offered."""
    options = []
    if client.has_extn("8bitmime") and not data.isascii():
        options.append("BODY=8BITMIME")
    if client.has_extn("smtputf8") and not all(a.isascii() for a in (mail_from, *rcpt_tos)):
        options.append("SMTPUTF8")
    return options
