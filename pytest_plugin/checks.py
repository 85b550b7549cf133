"""The content checks as a test asserts on them: ``message.auth`` and ``message.html_check()``.

Both run :mod:`mailsink.checks` in the test process on the message as
received, with the plugin's DNS settings (``--mailsink-dns-records``, and real
DNS off unless ``--mailsink-dns on``), so in-process and remote mode give the
same verdicts.  Failures say which check failed and why.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mailsink.checks import AuthReport


class AuthVerdicts:
    """DKIM, SPF, DMARC and ARC results (RFC 8601 names) of one message, with the reasons.

    ``repr`` lists every verdict and its reason, so ``assert m.auth.dkim == "pass"``
    fails with what went wrong (pytest shows the object the attribute came from).
    """

    def __init__(self, report: AuthReport) -> None:
        self.report = report
        self.dkim = report.dkim
        self.spf = report.spf.result
        self.dmarc = report.dmarc.result
        self.arc = report.arc.result

    @property
    def reasons(self) -> dict[str, str]:
        """Return why each method did not pass ('' for those that did)."""
        dkim = "; ".join(
            f"{s.domain or '?'}/{s.selector or '?'}: {s.reason}" for s in self.report.signatures
        )
        return {
            "dkim": dkim if self.dkim != "pass" else "",
            "spf": self.report.spf.reason,
            "dmarc": self.report.dmarc.reason,
            "arc": self.report.arc.reason,
        }

    def __repr__(self) -> str:
        parts = []
        for name in ("dkim", "spf", "dmarc", "arc"):
            result = getattr(self, name)
            reason = self.reasons[name]
            parts.append(f"{name}={result}" + (f" ({reason})" if reason else ""))
        return "<auth " + "; ".join(parts) + ">"

    def to_json(self) -> dict[str, Any]:
        """Return the same JSON as ``GET /api/v1/message/{ID}/auth-check``."""
        return self.report.to_json()


def html_check_failure(result: dict[str, Any], minimum: float, where: str) -> str | None:
    """Return why an HTML check scored under ``minimum``, None when it did not."""
    score = float(result["Total"]["Supported"])
    if score >= minimum:
        return None
    worst = []
    for warning in result["Warnings"][:8]:
        points = warning["Score"]
        worst.append(
            f"\n  {warning['Slug']} ({warning['Title']}): used {points['Found']}x, "
            f"unsupported in {points['Unsupported']:.0f}%, partial in {points['Partial']:.0f}% "
            f"of clients {warning['URL']}".rstrip()
        )
    return (
        f"HTML check of {where}: {score:.1f}% supported, wanted at least {minimum:g}%; "
        f"worst features:{''.join(worst) or ' (none)'}"
    )
