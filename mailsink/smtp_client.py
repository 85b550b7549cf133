"""Open an SMTP client session the way every client here needs one: secured, greeted, logged in.

``mailsink sendmail`` and ``mailsink ingest`` deliver to a sink; the relay delivers to
an upstream.  Both want the same steps in the same order, and the same clean-up when
one fails: connect (SMTPS when asked), EHLO, STARTTLS when asked and then EHLO again,
AUTH when a user is given, and close the socket on any error so a refused login or
broken TLS never leaks a connection.  ``smtplib`` is enough: every caller runs on a
thread of its own, never on a listener's event loop.
"""

from __future__ import annotations

import smtplib
import ssl
from typing import Literal

Security = Literal["plain", "starttls", "tls"]
"""``plain``: no TLS; ``starttls``: required after EHLO; ``tls``: implicit TLS (SMTPS)."""


def open_session(
    host: str,
    port: int,
    *,
    timeout: float,
    security: Security = "plain",
    tls_context: ssl.SSLContext | None = None,
    user: str | None = None,
    password: str | None = None,
    local_hostname: str | None = None,
    debug: bool = False,
) -> smtplib.SMTP:
    """Return a session ready for MAIL FROM; raise smtplib's or the socket's error otherwise.

    With ``starttls``, a server that does not offer STARTTLS raises
    ``SMTPNotSupportedError``: never fall back to plain text when TLS was asked for.
    """
    client: smtplib.SMTP
    if security == "tls":
        client = smtplib.SMTP_SSL(
            host, port, local_hostname=local_hostname, timeout=timeout, context=tls_context
        )
    else:
        client = smtplib.SMTP(host, port, local_hostname=local_hostname, timeout=timeout)
    try:
        client.set_debuglevel(1 if debug else 0)
        client.ehlo_or_helo_if_needed()
        if security == "starttls":
            client.starttls(context=tls_context)
            client.ehlo()
        if user is not None:
            client.login(user, password or "")
    except BaseException:
        client.close()
        raise
    return client
