"""DMARC (RFC 7489) from the DKIM and SPF verdicts: alignment with the From domain, and policy.

It is a small rule over the other two results, so it is evaluated here rather
than with a library: find ``_dmarc.<From domain>`` (else the organizational
domain's record), then pass when a passing DKIM ``d=`` or the SPF domain aligns
with the From domain (relaxed: same organizational domain; strict: equal).
The organizational domain is approximated without a public-suffix list (the
last two labels, three under ``co.uk``-style suffixes).
"""

from __future__ import annotations

import email.utils
from email.parser import BytesHeaderParser
from email.policy import compat32
from typing import Any

from mailsink.checks.dns import DnsTempError, Resolver, normalise_name
from mailsink.checks.verdicts import DkimSignature, Verdict
from mailsink.headers import decode_header_value, header_end

_header_parser = BytesHeaderParser(policy=compat32)


def domain_of(address: str) -> str:
    """Return the domain of an address, '' when it has none."""
    return normalise_name(address.rpartition("@")[2]) if "@" in address else ""


def organizational_domain(domain: str) -> str:
    """Return the organizational domain (a public-suffix approximation, see README)."""
    labels = domain.split(".")
    if len(labels) <= 2:
        return domain
    # Two-letter country TLDs with a short second level (co.uk, com.au) keep three labels.
    if len(labels[-1]) == 2 and len(labels[-2]) <= 3:
        return ".".join(labels[-3:])
    return ".".join(labels[-2:])


def _aligned(domain: str, from_domain: str, mode: str) -> bool:
    """Tell whether domain aligns with the From domain (``s`` strict, ``r`` relaxed)."""
    if not domain:
        return False
    if mode == "s":
        return domain == from_domain
    return organizational_domain(domain) == organizational_domain(from_domain)


def _dmarc_record(resolver: Resolver, domain: str) -> tuple[str, str]:
    """Return (record, where found) for the From domain or its organizational domain."""
    for name in dict.fromkeys([domain, organizational_domain(domain)]):
        for value in resolver.query(f"_dmarc.{name}", "TXT"):
            if value.strip().lower().startswith("v=dmarc1"):
                return value, name
    return "", ""


def _from_domain(raw: bytes) -> tuple[str, str]:
    """Return (From domain, problem) from the header; RFC 7489 needs exactly one address."""
    head = raw[: header_end(raw)]
    message = _header_parser.parsebytes(head + b"\r\n\r\n")
    values = message.get_all("From") or []
    if len(values) != 1:
        return "", f"{len(values)} From headers (DMARC needs exactly one)"
    addresses = email.utils.getaddresses([decode_header_value(str(values[0]))])
    domains = {domain_of(address) for _name, address in addresses if address}
    if len(domains) != 1:
        return "", "the From header does not name exactly one domain"
    return domains.pop(), ""


def _dmarc_tags(record: str) -> dict[str, str]:
    """Return the tag=value pairs of a DMARC record, names lowercased."""
    tags = {}
    for item in record.split(";"):
        key, _, value = item.partition("=")
        if key.strip():
            tags[key.strip().lower()] = value.strip()
    return tags


def check_dmarc(
    raw: bytes,
    resolver: Resolver,
    signatures: list[DkimSignature],
    spf: Verdict,
) -> Verdict:
    """Evaluate DMARC from the DKIM and SPF verdicts and the published policy."""
    from_domain, problem = _from_domain(raw)
    details: dict[str, Any] = {
        "Domain": from_domain,
        "Record": "",
        "Policy": "",
        "SubdomainPolicy": "",
        "Alignment": {"DKIM": False, "SPF": False},
    }
    if not from_domain:
        return Verdict("permerror", problem, details)
    try:
        record, found_at = _dmarc_record(resolver, from_domain)
    except DnsTempError as error:
        return Verdict("temperror", str(error), details)
    if not record:
        return Verdict("none", f"no DMARC record at _dmarc.{from_domain} TXT", details)
    tags = _dmarc_tags(record)
    policy = tags.get("p", "").lower()
    details["Record"] = record
    details["Policy"] = policy
    details["SubdomainPolicy"] = tags.get("sp", policy).lower()
    if policy not in ("none", "quarantine", "reject"):
        return Verdict("permerror", f"p= must be none, quarantine or reject: {record!r}", details)
    if found_at != from_domain:
        details["Policy"] = details["SubdomainPolicy"]
    adkim, aspf = tags.get("adkim", "r").lower(), tags.get("aspf", "r").lower()
    dkim_aligned = any(
        s.result == "pass" and _aligned(s.domain.lower(), from_domain, adkim) for s in signatures
    )
    spf_domain = str(spf.details.get("Domain", ""))
    spf_aligned = spf.result == "pass" and _aligned(spf_domain, from_domain, aspf)
    details["Alignment"] = {"DKIM": dkim_aligned, "SPF": spf_aligned}
    if dkim_aligned or spf_aligned:
        return Verdict("pass", "", details)
    reason = _dmarc_failure(signatures, spf, spf_domain, from_domain)
    return Verdict("fail", f"{reason} (policy p={details['Policy']})", details)


def _dmarc_failure(
    signatures: list[DkimSignature], spf: Verdict, spf_domain: str, from_domain: str
) -> str:
    """Say why neither DKIM nor SPF gave an aligned pass."""
    if not any(s.result == "pass" for s in signatures):
        dkim_part = "no DKIM signature passed"
    else:
        dkim_part = f"no passing DKIM signature is aligned with {from_domain}"
    if spf.result != "pass":
        spf_part = f"SPF is {spf.result}"
    else:
        spf_part = f"the SPF domain {spf_domain} is not aligned with {from_domain}"
    return f"{dkim_part}; {spf_part}"
