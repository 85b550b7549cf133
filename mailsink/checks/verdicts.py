"""The verdicts of the auth check: one per DKIM signature, ARC, SPF and DMARC, and the report.

Result names are those of RFC 8601 ``Authentication-Results``; every verdict
other than ``pass``/``none`` carries its reason.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class DkimSignature:
    """The verdict on one DKIM-Signature header."""

    domain: str = ""
    selector: str = ""
    algorithm: str = ""
    body_hash: str = ""
    """``pass`` or ``fail`` for the ``bh=`` body hash; '' when not reached."""
    result: str = "none"
    reason: str = ""

    def to_json(self) -> dict[str, Any]:
        """Return the signature verdict as PascalCase JSON."""
        return {
            "Domain": self.domain,
            "Selector": self.selector,
            "Algorithm": self.algorithm,
            "BodyHash": self.body_hash,
            "Result": self.result,
            "Reason": self.reason,
        }


@dataclass
class Verdict:
    """One method's result with its reason and the details that led to it."""

    result: str = "none"
    reason: str = ""
    details: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """Return ``{"Result", "Reason", ...details}``."""
        return {"Result": self.result, "Reason": self.reason, **self.details}


@dataclass
class AuthReport:
    """DKIM (per signature), ARC, SPF and DMARC verdicts of one message."""

    dkim: str
    signatures: list[DkimSignature]
    arc: Verdict
    spf: Verdict
    dmarc: Verdict

    def authentication_results(self, authserv_id: str = "mailsink") -> str:
        """Return the verdicts as an RFC 8601 ``Authentication-Results`` value."""
        parts = [authserv_id]
        for sig in self.signatures or [DkimSignature()]:
            text = f"dkim={sig.result}"
            if sig.reason and sig.result != "pass":
                text += f" ({sig.reason})"
            if sig.domain:
                text += f" header.d={sig.domain} header.s={sig.selector}"
            parts.append(text)
        parts.append(f"arc={self.arc.result}")
        spf = f"spf={self.spf.result}"
        if self.spf.details.get("Domain"):
            spf += f" smtp.mailfrom={self.spf.details['Domain']}"
        parts.append(spf)
        dmarc = f"dmarc={self.dmarc.result}"
        if self.dmarc.details.get("Domain"):
            dmarc += f" header.from={self.dmarc.details['Domain']}"
        parts.append(dmarc)
        return "; ".join(parts)

    def to_json(self) -> dict[str, Any]:
        """Return the report as the ``/auth-check`` JSON."""
        return {
            "DKIM": {
                "Result": self.dkim,
                "Signatures": [s.to_json() for s in self.signatures],
            },
            "ARC": self.arc.to_json(),
            "SPF": self.spf.to_json(),
            "DMARC": self.dmarc.to_json(),
            "AuthenticationResults": self.authentication_results(),
        }
