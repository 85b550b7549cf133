"""Bounded DNS for the checks: ``--dns-records`` answers first, real DNS (unless off) after.

A sink in a test or an air-gapped CI cannot reach the DNS where a staging
domain's DKIM key and SPF/DMARC policies live, so a developer writes them in a
file, one BIND-style record a line (``sel._domainkey.example.com TXT "v=DKIM1;
p=..."``).  A name listed in the file is answered from the file only (a type it
does not list is "no data"), so a test never leaks a query for its own names;
other names go to the system's resolvers unless DNS is off.

Every query is bounded: a per-query lifetime, a time budget and a cap on
queries per check, no search-domain appending (``search=False``), and answers
capped in size.
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

MAX_QUERIES = 40
"""Most DNS questions one check may ask (SPF alone allows 10 lookups + 2 void)."""

QUERY_TIMEOUT = 3.0
"""Seconds one question may take, retries included."""

CHECK_TIMEOUT = 10.0
"""Seconds of real DNS one check may spend in all (every question shares it)."""

MAX_RECORDS_FILE = 1024 * 1024
"""Largest ``--dns-records`` file read."""

RECORD_TYPES = ("TXT", "A", "AAAA", "MX", "CNAME", "PTR")
_CLASSES = ("IN",)
_TOKEN = re.compile(r'"((?:[^"\\]|\\.)*)"|([^\s"();]+)|(\()|(\))|(;.*)', re.S)
_ESCAPE = re.compile(r"\\(\d{3}|.)", re.S)


class DnsRecordsError(ValueError):
    """A ``--dns-records`` file that cannot be read, with the line at fault."""


class DnsTempError(Exception):
    """A question that could not be answered now (timeout, no server, query cap)."""


@dataclass(frozen=True)
class Records:
    """The records of a ``--dns-records`` file: ``{(name, TYPE): [values]}``."""

    answers: dict[tuple[str, str], tuple[str, ...]] = field(default_factory=dict)
    names: frozenset[str] = frozenset()

    def lookup(self, name: str, rtype: str) -> tuple[str, ...] | None:
        """Return the values for (name, type), () for a listed name without it, None if unlisted."""
        key = normalise_name(name)
        if key not in self.names:
            return None
        return self.answers.get((key, rtype.upper()), ())


def normalise_name(name: str) -> str:
    """Return a DNS name lowercased without its trailing dot."""
    return name.strip().rstrip(".").lower()


def _unescape(text: str) -> str:
    """Decode BIND escapes in a quoted string (``\\"``, ``\\\\``, ``\\DDD``)."""

    def decode(match: re.Match[str]) -> str:
        value = match.group(1)
        return chr(int(value)) if value.isdigit() else value

    return _ESCAPE.sub(decode, text)


def _line_tokens(line: str, number: int, depth: int) -> tuple[list[str], int]:
    """Return the tokens of one line (quoted ones marked by a leading ``"``) and the new depth."""
    tokens: list[str] = []
    position = 0
    while position < len(line):
        if line[position].isspace():
            position += 1
            continue
        match = _TOKEN.match(line, position)
        if match is None:
            raise DnsRecordsError(f"line {number}: unbalanced quote")
        position = match.end()
        quoted, bare, opening, closing, comment = match.groups()
        if comment is not None:
            break
        if opening or closing:
            depth += 1 if opening else -1
            if depth < 0:
                raise DnsRecordsError(f"line {number}: ')' without '('")
        elif quoted is not None:
            tokens.append('"' + _unescape(quoted))
        else:
            tokens.append(bare)
    return tokens, depth


def _logical_lines(text: str) -> Iterator[tuple[int, list[str]]]:
    """Yield (first line number, tokens) per record, joining ``( ... )`` across lines."""
    tokens: list[str] = []
    depth = 0
    start = 0
    for number, line in enumerate(text.splitlines(), 1):
        if depth == 0:
            if line.lstrip().startswith("#"):
                continue
            start = number
        more, depth = _line_tokens(line, number, depth)
        tokens += more
        if depth == 0 and tokens:
            yield start, tokens
            tokens = []
    if depth:
        raise DnsRecordsError(f"line {start}: '(' is never closed")


def parse_records(text: str) -> Records:
    """Parse BIND-style ``NAME [TTL] [IN] TYPE VALUE`` lines; TXT strings are joined."""
    answers: dict[tuple[str, str], list[str]] = {}
    for number, tokens in _logical_lines(text):
        name, rest = tokens[0], tokens[1:]
        if name.startswith('"'):
            raise DnsRecordsError(f"line {number}: a record starts with its name")
        while rest and (rest[0].isdigit() or rest[0].upper() in _CLASSES):
            rest = rest[1:]
        if not rest or rest[0].upper() not in RECORD_TYPES:
            raise DnsRecordsError(
                f"line {number}: expected NAME [TTL] [IN] TYPE VALUE with TYPE one of "
                f"{', '.join(RECORD_TYPES)}"
            )
        rtype, values = rest[0].upper(), rest[1:]
        if not values:
            raise DnsRecordsError(f"line {number}: {rtype} record without a value")
        if rtype == "TXT":
            value = "".join(v[1:] if v.startswith('"') else v for v in values)
        else:
            value = " ".join(v.lstrip('"') for v in values)
        answers.setdefault((normalise_name(name), rtype), []).append(value)
    return Records(
        {key: tuple(values) for key, values in answers.items()},
        frozenset(name for name, _type in answers),
    )


_cache_lock = threading.Lock()
_cache: dict[str, tuple[tuple[int, int], Records]] = {}


def load_records(path: str) -> Records:
    """Read a ``--dns-records`` file, re-reading it only when it changed on disk."""
    try:
        info = os.stat(path)
        stamp = (info.st_mtime_ns, info.st_size)
        with _cache_lock:
            cached = _cache.get(path)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        if info.st_size > MAX_RECORDS_FILE:
            raise DnsRecordsError(f"{path}: larger than {MAX_RECORDS_FILE} bytes")
        with open(path, encoding="utf-8") as handle:
            text = handle.read(MAX_RECORDS_FILE + 1)
    except (OSError, UnicodeDecodeError) as error:
        raise DnsRecordsError(f"{path}: {error}") from None
    try:
        records = parse_records(text)
    except DnsRecordsError as error:
        raise DnsRecordsError(f"{path}: {error}") from None
    with _cache_lock:
        _cache[path] = (stamp, records)
    return records


class Resolver:
    """Answer one check's questions from the records, then (if allowed) the network."""

    def __init__(
        self,
        records: Records | None = None,
        *,
        network: bool = True,
        timeout: float = QUERY_TIMEOUT,
        max_queries: int = MAX_QUERIES,
        total_timeout: float = CHECK_TIMEOUT,
    ) -> None:
        self.records = records or Records()
        self.network = network
        self.timeout = timeout
        self.max_queries = max_queries
        self.queries = 0
        self.deadline = time.monotonic() + total_timeout

    def query(self, name: str, rtype: str) -> tuple[str, ...]:
        """Return the values of a record set; () for none; DnsTempError when it cannot tell."""
        rtype = rtype.upper()
        self.queries += 1
        if self.queries > self.max_queries:
            raise DnsTempError(f"more than {self.max_queries} DNS queries in one check")
        listed = self.records.lookup(name, rtype)
        if listed is not None:
            return listed
        if not self.network:
            return ()
        return self._network_query(normalise_name(name), rtype)

    def _network_query(self, name: str, rtype: str) -> tuple[str, ...]:
        """Ask the system's resolvers, bounded in time; no search list."""
        import dns.exception
        import dns.resolver

        if not name or len(name) > 253:
            return ()
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise DnsTempError("this check's DNS time is used up")
        resolver = dns.resolver.Resolver()
        resolver.lifetime = min(self.timeout, remaining)
        resolver.timeout = min(resolver.lifetime, 2.0)
        try:
            answer = resolver.resolve(name, rtype, search=False, raise_on_no_answer=False)
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
            return ()
        except (dns.exception.Timeout, dns.resolver.NoNameservers) as error:
            raise DnsTempError(f"DNS {rtype} {name}: {error}") from None
        except dns.exception.DNSException as error:
            raise DnsTempError(f"DNS {rtype} {name}: {error}") from None
        values: list[str] = []
        for rdata in list(answer)[:50]:
            if rtype == "TXT":
                values.append(b"".join(rdata.strings).decode("utf-8", "replace"))
            elif rtype in ("A", "AAAA"):
                values.append(str(rdata.address))
            elif rtype == "MX":
                values.append(f"{rdata.preference} {rdata.exchange.to_text(True)}")
            else:
                values.append(rdata.to_text())
        return tuple(values)


def resolver_for(dns_records: str | None, dns_enabled: bool) -> Resolver:
    """Return a fresh resolver for one check from the ``--dns-records`` / ``--dns`` settings."""
    records = load_records(dns_records) if dns_records else None
    return Resolver(records, network=dns_enabled)
