"""What the SMTP listener accepts in HELO/EHLO, MAIL FROM and RCPT TO, checked at the command.

Why at the command: an envelope that cannot be stored must be refused when
the client sends it, with a code that says why, not accepted with 250 and
then failed at DATA with 451 forever (a client retries a 4xx; it never
learns).  Each check returns the reply to send, or None to accept.

* **8-bit** (RFC 6531): a non-ASCII address is accepted only in a
  transaction that asked for ``SMTPUTF8`` on MAIL FROM, and only as valid
  UTF-8; otherwise ``553 5.6.7``.  aiosmtpd decodes command arguments as
  UTF-8 with ``surrogateescape``, so bytes that are not UTF-8 arrive as lone
  surrogates: those are ``501 5.6.7`` with or without SMTPUTF8.  A HELO name
  is ASCII; an EHLO name may be UTF-8 (the client has seen SMTPUTF8 offered).
* **Lengths** (RFC 5321 4.5.3.1): local part 64 octets, domain 255, the
  whole path with its angle brackets 256.  A sink is lenient about most
  things, but a longer address would be bounced by the real servers the app
  will meet, so it is refused here too (``501 5.1.3`` naming the limit).
* **Control characters** (CR, LF, NUL, DEL...): ``501``, so they can never
  reach a header or a log line.
"""

from __future__ import annotations

from mailsink.headers import is_utf8

LOCAL_PART_MAX = 64
DOMAIN_MAX = 255
PATH_MAX = 256
"""RFC 5321 4.5.3.1.1-3, in octets; the path counts its ``<`` and ``>``."""


def has_control_chars(text: str) -> bool:
    """Tell whether text holds a C0 control character or DEL."""
    return any(ord(ch) < 32 or ord(ch) == 127 for ch in text)


def check_address(address: str, smtputf8: bool, role: str) -> str | None:
    """Return the reply refusing a MAIL FROM (``role="sender"``) or RCPT TO address, or None.

    ``smtputf8`` tells whether MAIL FROM carried the SMTPUTF8 parameter.
    """
    code = "5.1.7" if role == "sender" else "5.1.3"
    if has_control_chars(address):
        return f"501 {code} Bad {role} address syntax (control characters)"
    if not is_utf8(address):  # lone surrogates: bytes that were not UTF-8
        return f"501 5.6.7 The {role} address is not valid UTF-8"
    if not address.isascii() and not smtputf8:
        return f"553 5.6.7 Non-ASCII {role} address without SMTPUTF8 (RFC 6531)"
    too_long = _too_long(address)
    return f"501 {code} The {too_long} octets (RFC 5321)" if too_long else None


def _too_long(address: str) -> str | None:
    """Name the RFC 5321 limit an address exceeds, or None."""
    local, at, domain = address.rpartition("@")
    if at and len(local.encode("utf-8")) > LOCAL_PART_MAX:
        return f"local part is longer than {LOCAL_PART_MAX}"
    if at and len(domain.encode("utf-8")) > DOMAIN_MAX:
        return f"domain is longer than {DOMAIN_MAX}"
    if len(address.encode("utf-8")) + 2 > PATH_MAX:
        return f"path is longer than {PATH_MAX}"
    return None


def check_helo(name: str, extended: bool) -> str | None:
    """Return the reply refusing a HELO (``extended=False``) or EHLO name, or None."""
    if has_control_chars(name) or not is_utf8(name) or (not extended and not name.isascii()):
        return "501 5.5.2 Invalid HELO/EHLO name (8-bit or control characters)"
    if len(name.encode("utf-8")) > DOMAIN_MAX + 2:  # a domain or an [address literal]
        return f"501 5.5.2 The HELO/EHLO name is longer than {DOMAIN_MAX} octets"
    return None
