"""Which IP addresses the link check may connect to: public unicast only.

Mailpit had four SSRF advisories in 2026 (``/proxy``, the HTML check's remote
CSS, the link check, then CGNAT and IPv4-embedded-in-IPv6 bypasses:
GHSA-j3fj-qppj-fmmc, GHSA-w4mc-hhc6-xp28).  So every address is judged with
its embedded IPv4 decoded first — IPv4-mapped and -compatible, 6to4, NAT64
(both prefixes), Teredo (XOR-obfuscated client) and ISATAP — and then against
an explicit list of ranges, with Python's ``is_global`` as the catch-all for
anything reserved that the list misses.
"""

from __future__ import annotations

import ipaddress

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_V4_RANGES = [
    (ipaddress.ip_network(net), why)
    for net, why in [
        ("0.0.0.0/8", "unspecified/this network"),
        ("10.0.0.0/8", "private"),
        ("100.64.0.0/10", "CGNAT shared address space"),
        ("127.0.0.0/8", "loopback"),
        ("169.254.0.0/16", "link-local"),
        ("172.16.0.0/12", "private"),
        ("192.0.0.0/24", "IETF protocol assignments"),
        ("192.0.2.0/24", "documentation"),
        ("192.88.99.0/24", "6to4 relay anycast"),
        ("192.168.0.0/16", "private"),
        ("198.18.0.0/15", "benchmarking"),
        ("198.51.100.0/24", "documentation"),
        ("203.0.113.0/24", "documentation"),
        ("224.0.0.0/4", "multicast"),
        ("240.0.0.0/4", "reserved"),
    ]
]
_V6_RANGES = [
    (ipaddress.ip_network(net), why)
    for net, why in [
        ("::/128", "unspecified"),
        ("::1/128", "loopback"),
        ("fc00::/7", "unique-local"),
        ("fe80::/10", "link-local"),
        ("fec0::/10", "site-local (deprecated)"),
        ("ff00::/8", "multicast"),
        ("2001:db8::/32", "documentation"),
        ("100::/64", "discard-only"),
    ]
]
_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
_SIX_TO_FOUR = ipaddress.ip_network("2002::/16")
_TEREDO = ipaddress.ip_network("2001::/32")
_COMPATIBLE = ipaddress.ip_network("::/96")
# Multicast and "this host" stay refused even with --link-check-allow-private.
_ALWAYS_REFUSED = ("unspecified", "multicast", "unspecified/this network")


_EMBEDDINGS = (
    (_NAT64[0], "NAT64", lambda packed: packed[12:]),
    (_NAT64[1], "NAT64", lambda packed: packed[12:]),
    (_SIX_TO_FOUR, "6to4", lambda packed: packed[2:6]),
    (_TEREDO, "Teredo", lambda packed: bytes(b ^ 0xFF for b in packed[12:])),
)


def embedded_ipv4(address: ipaddress.IPv6Address) -> tuple[ipaddress.IPv4Address, str] | None:
    """Return (the IPv4 address an IPv6 address carries, the form), or None."""
    packed = address.packed
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped, "IPv4-mapped"
    for prefix, form, extract in _EMBEDDINGS:
        if address in prefix:
            return ipaddress.IPv4Address(extract(packed)), form
    if address in _COMPATIBLE and int(address) > 1:
        return ipaddress.IPv4Address(packed[12:]), "IPv4-compatible"
    if packed[8:12] in (b"\x00\x00\x5e\xfe", b"\x02\x00\x5e\xfe"):
        return ipaddress.IPv4Address(packed[12:]), "ISATAP"
    return None


def refusal(address: IPAddress) -> str | None:
    """Say why the link check must not connect to an address; None when it may."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.scope_id:
            return "link-local (scoped)"
        embedded = embedded_ipv4(address)
        if embedded is not None:
            inner, form = embedded
            why = refusal(inner)
            if why is not None:
                return f"{form} IPv6 carrying {inner}: {why}"
        ranges = _V6_RANGES
    else:
        ranges = _V4_RANGES
    for network, why in ranges:
        if address in network:
            return why
    if not address.is_global:
        return "reserved (not globally routable)"
    return None


def refusal_under(address: IPAddress, allow_private: bool, allowed: frozenset[str]) -> str | None:
    """Apply the policy: ``allowed`` addresses pass; ``allow_private`` lets all but a few pass."""
    if str(address) in allowed:
        return None
    why = refusal(address)
    if why is None or not allow_private:
        return why
    return why if any(why.endswith(kind) for kind in _ALWAYS_REFUSED) else None
