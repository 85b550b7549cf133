"""Content checks: is the mail an app sends *good*, not only sent?

Every check is a pure function of (raw bytes, envelope, settings): the web
API, the UI's Checks tab and the pytest fixture only call them, and none of
them runs at ingest (a check costs nothing until someone asks for it).

Map of the package::

    runner.py        the entry points below: a stored message in, a JSON-ready answer out
      html_compat.py   HTML/CSS features vs caniemail.com data (selectolax + css_features.py)
      css_features.py  CSS features found by tinycss2 in sheets and style attributes
      links.py         HTTP status of every link and image (opt-in; SSRF-proof)
      addresses.py     which IP addresses the link check may reach (public unicast only)
      spam.py          SpamAssassin score from a real spamd (spamc protocol client)
      unsubscribe.py   List-Unsubscribe / -Post validation (Mailpit's rules + RFC 8058)
      auth.py          DKIM (dkimpy), ARC and SPF (pyspf) verdicts, and check_auth over all four
      dmarc.py         DMARC alignment and policy from the DKIM and SPF verdicts
      verdicts.py      the verdict types and the report (RFC 8601 names, Authentication-Results)
      dns.py           bounded DNS for auth.py: --dns-records first, then real DNS or none
    data/caniemail.json  the caniemail.com data set (CC BY 4.0, see data/README.md)

Outbound connections happen only where the user points them: spamd
(``--spamassassin``), DNS for the auth check (``--dns``), and links only with
``--link-check``.  Remote stylesheets are never fetched.
"""

from __future__ import annotations

from mailsink.checks.dns import DnsRecordsError
from mailsink.checks.html_compat import TooLargeToCheckError
from mailsink.checks.runner import (
    CheckUnavailableError,
    auth_check,
    html_check,
    link_check,
    spam_check,
)
from mailsink.checks.unsubscribe import parse_list_unsubscribe
from mailsink.checks.verdicts import AuthReport

__all__ = [
    "AuthReport",
    "CheckUnavailableError",
    "DnsRecordsError",
    "TooLargeToCheckError",
    "auth_check",
    "html_check",
    "link_check",
    "parse_list_unsubscribe",
    "spam_check",
]
