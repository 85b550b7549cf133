"""DKIM, ARC, SPF and DMARC verdicts: what a receiver would decide about this message.

Results use the names of RFC 8601 ``Authentication-Results`` (``pass``,
``fail``, ``softfail``, ``neutral``, ``none``, ``temperror``, ``permerror``), and
every verdict other than ``pass``/``none`` carries the reason, so a developer
moving an app to a new sending domain sees *why* mail would be rejected.

- DKIM and ARC: dkimpy (the reference Python implementation, also used by
  dkimpy-milter); every DKIM-Signature is verified on its own.
- SPF: pyspf (RFC 7208, with its lookup limits), for the envelope sender (the
  HELO name for a null sender) and the connecting peer's address.
- DMARC (RFC 7489): ``dmarc.py``, from the two above.

All DNS goes through :class:`mailsink.checks.dns.Resolver` (``--dns-records``
first, bounded), never through the libraries' own resolvers.
"""

from __future__ import annotations

import ipaddress
from email.parser import BytesHeaderParser
from email.policy import compat32
from typing import Any

from mailsink.checks.dmarc import check_dmarc, domain_of
from mailsink.checks.dns import DnsTempError, Resolver, normalise_name
from mailsink.checks.verdicts import AuthReport, DkimSignature, Verdict
from mailsink.headers import header_end
from mailsink.message import Envelope

__all__ = ["AuthReport", "DkimSignature", "Verdict", "check_auth"]

MAX_SIGNATURES = 10
"""Most DKIM-Signature headers verified in one message."""

_header_parser = BytesHeaderParser(policy=compat32)


class _Collector:
    """A stand-in logger for dkimpy that keeps its error lines (the failure reasons)."""

    def __init__(self) -> None:
        self.errors: list[str] = []

    def error(self, message: str, *args: object) -> None:
        self.errors.append(str(message) % args if args else str(message))

    def debug(self, *args: object) -> None:
        pass

    info = warning = debug


class _DkimDns:
    """dkimpy's ``dnsfunc``: TXT lookups through the resolver, remembering temp errors."""

    def __init__(self, resolver: Resolver) -> None:
        self.resolver = resolver
        self.temp_error = ""

    def __call__(self, name: bytes | str, timeout: float = 5) -> bytes | None:
        import dkim

        text = name.decode("ascii", "replace") if isinstance(name, bytes) else name
        try:
            values = self.resolver.query(text, "TXT")
        except DnsTempError as error:
            self.temp_error = str(error)
            raise dkim.DnsTimeoutError(str(error)) from None
        if not values:
            return None
        return values[0].encode("utf-8")


def _signature_count(raw: bytes) -> int:
    """Count DKIM-Signature headers."""
    head = raw[: header_end(raw)]
    message = _header_parser.parsebytes(head + b"\r\n\r\n")
    return len(message.get_all("DKIM-Signature") or [])


def _text(value: object) -> str:
    """Return a dkimpy tag value (bytes) as text."""
    if isinstance(value, bytes):
        return value.decode("ascii", "replace")
    return str(value or "")


def verify_dkim_signature(raw: bytes, index: int, resolver: Resolver) -> DkimSignature:
    """Verify the index-th DKIM-Signature and say why it fails, if it does."""
    import dkim

    collector = _Collector()
    dnsfunc = _DkimDns(resolver)
    signature = DkimSignature()
    verifier = dkim.DKIM(raw, logger=collector)
    try:
        prep = verifier.verify_headerprep(index)
    except dkim.DKIMException as error:
        signature.result, signature.reason = "permerror", f"bad signature header: {error}"
        return signature
    if not prep:
        signature.result, signature.reason = "permerror", "signature header not found"
        return signature
    fields = prep[0]
    signature.domain = _text(fields.get(b"d"))
    signature.selector = _text(fields.get(b"s"))
    signature.algorithm = _text(fields.get(b"a"))
    try:
        valid = verifier.verify(index, dnsfunc=dnsfunc)
    except dkim.DKIMException as error:
        reason = str(error)
        if "body hash mismatch" in reason:
            signature.body_hash = "fail"
            reason = "body hash mismatch: the body was changed after signing"
        signature.result, signature.reason = "fail", reason
        return signature
    except Exception as error:  # noqa: BLE001 - hostile mail must not crash the check
        signature.result = "permerror"
        signature.reason = f"could not verify: {type(error).__name__}: {error}"
        return signature
    key_name = f"{signature.selector}._domainkey.{signature.domain}"
    if dnsfunc.temp_error:
        signature.result, signature.reason = "temperror", dnsfunc.temp_error
    elif valid:
        signature.result, signature.body_hash = "pass", "pass"
    elif collector.errors and "missing public key" in collector.errors[0]:
        signature.result = "permerror"
        signature.reason = f"no public key at {key_name} TXT"
    elif collector.errors:
        signature.result, signature.reason = "permerror", f"{key_name}: {collector.errors[0]}"
    else:
        signature.result, signature.body_hash = "fail", "pass"
        signature.reason = (
            "signature did not verify: a signed header was changed, "
            f"or the key at {key_name} is not the signing key"
        )
    return signature


def check_dkim(raw: bytes, resolver: Resolver) -> tuple[str, list[DkimSignature]]:
    """Verify every DKIM signature; the overall result is ``pass`` if any passes."""
    count = min(_signature_count(raw), MAX_SIGNATURES)
    signatures = [verify_dkim_signature(raw, i, resolver) for i in range(count)]
    if not signatures:
        return "none", []
    results = {s.result for s in signatures}
    for result in ("pass", "fail", "temperror", "permerror"):
        if result in results:
            return result, signatures
    return signatures[0].result, signatures


def check_arc(raw: bytes, resolver: Resolver) -> Verdict:
    """Validate the ARC chain (RFC 8617): ``none`` without ARC headers."""
    import dkim

    dnsfunc = _DkimDns(resolver)
    try:
        cv, _results, comment = dkim.arc_verify(raw, dnsfunc=dnsfunc, logger=_Collector())
    except dkim.DKIMException as error:
        return Verdict("fail", f"bad ARC headers: {error}")
    except Exception as error:  # noqa: BLE001 - hostile mail must not crash the check
        return Verdict("fail", f"could not verify the ARC chain: {type(error).__name__}: {error}")
    result = _text(cv).lower() or "none"
    if dnsfunc.temp_error:
        return Verdict("temperror", dnsfunc.temp_error)
    if result not in ("pass", "fail", "none"):
        result = "fail"
    return Verdict(result, "" if result in ("pass", "none") else _text(comment))


def _peer_ip(peer: str) -> str:
    """Return the address part of ``host:port`` / ``[v6]:port``, '' if it is not an IP."""
    host = peer
    if host.startswith("["):
        host = host[1:].partition("]")[0]
    elif host.count(":") == 1:
        host = host.partition(":")[0]
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return ""


def check_spf(envelope: Envelope, resolver: Resolver) -> Verdict:
    """Evaluate SPF for the envelope sender (or HELO) and the peer's address."""
    import spf

    ip = _peer_ip(envelope.peer)
    sender = envelope.mail_from or ""
    domain = domain_of(sender) or normalise_name(envelope.helo)
    details = {"Domain": domain, "IP": ip, "Helo": envelope.helo, "MailFrom": sender}
    if not ip:
        return Verdict("none", "no peer IP address to check", details)
    if not domain:
        return Verdict("none", "no sender or HELO domain to check", details)
    query = _SpfQuery(
        i=ip, s=sender or f"postmaster@{domain}", h=envelope.helo or domain, timeout=10
    )
    query.resolver = resolver
    try:
        result, _code, explanation = query.check()
    except (spf.TempError, DnsTempError) as error:
        return Verdict("temperror", str(error), details)
    except spf.PermError as error:
        return Verdict("permerror", str(error), details)
    except Exception as error:  # noqa: BLE001 - hostile records must not crash the check
        return Verdict("permerror", f"{type(error).__name__}: {error}", details)
    result = str(result).lower()
    reason = "" if result == "pass" else str(explanation)
    if result == "none":
        reason = f"no SPF record at {domain} TXT"
    return Verdict(result, reason, details)


def _make_spf_query() -> type:
    """Build a pyspf query class that asks our resolver instead of its own."""
    import spf

    class SpfQuery(spf.query):  # type: ignore[misc]
        resolver: Resolver

        def dns(
            self,
            name: str,
            qtype: str,
            cnames: object = None,
            ignore_void: bool = False,
        ) -> list[Any]:
            name = normalise_name(str(name))
            if not name or not all(0 < len(label) < 64 for label in name.split(".")):
                return []
            try:
                values = self.resolver.query(name, "TXT" if qtype == "SPF" else qtype)
            except DnsTempError as error:
                raise spf.TempError(str(error)) from None
            result: list[Any] = []
            for value in values:
                if qtype in ("TXT", "SPF"):
                    result.append([value.encode("utf-8")])
                elif qtype == "MX":
                    preference, _, host = value.partition(" ")
                    result.append((int(preference or 0), host.rstrip(".")))
                else:
                    result.append(value.rstrip(".") if qtype == "PTR" else value)
            if not result and not ignore_void:
                self.void_lookups += 1
                if self.void_lookups > spf.MAX_VOID_LOOKUPS:
                    raise spf.PermError(f"Void lookup limit of {spf.MAX_VOID_LOOKUPS} exceeded")
            return result

    return SpfQuery


class _LazySpfQuery:
    """Import pyspf on first use: a sink that never checks auth never loads it."""

    cls: type | None = None

    def __call__(self, **kwargs: Any) -> Any:
        if self.cls is None:
            self.cls = _make_spf_query()
        return self.cls(**kwargs)


_SpfQuery = _LazySpfQuery()


def check_auth(raw: bytes, envelope: Envelope, resolver: Resolver) -> AuthReport:
    """Return the DKIM, ARC, SPF and DMARC verdicts on a message as received."""
    dkim_result, signatures = check_dkim(raw, resolver)
    arc = check_arc(raw, resolver)
    spf = check_spf(envelope, resolver)
    dmarc = check_dmarc(raw, resolver, signatures, spf)
    return AuthReport(dkim_result, signatures, arc, spf, dmarc)
