"""Realistic messages for the benchmarks, generated from a seed.

The fixed-size bodies of ``smtp-source -l`` are one repeated character: a
sink that parses them does no real work.  The messages here look like what
applications send (issue 19), and the same seed always gives the same bytes:

* :func:`newsletter` - a ~30 KB multipart/alternative HTML newsletter (text
  and HTML versions of varied words) plus a ~200 KB PDF-like attachment of
  random bytes, base64, inside multipart/mixed (~300 KB in all);
* :func:`large_mail` - a 1 MB mail with a short text/HTML body and three
  base64 attachments (PDF, PNG and ZIP-like random bytes);
* :func:`small_mail` - a varied ~2 KB plain text message for filling a store
  (``scale.py``): recipients cycle through ``user0..user999``, every
  ``COMMON_EVERY``-th message carries :data:`COMMON_WORD`, message
  :data:`RARE_INDEX` alone carries :data:`RARE_WORD`, and every 50th and
  100th carry ``X-Tags`` (three tags in all).

Their words are the 100 common :data:`WORDS` and, about one in twelve, a
rarer made-up word drawn by Zipf's law from :data:`RARER_WORDS` of them, so
the vocabulary of a filled store is bounded, as real mail's nearly is.
"""

from __future__ import annotations

import base64
import bisect
import itertools
import random
import textwrap

WORDS = tuple(
    [
        "account",
        "update",
        "order",
        "shipped",
        "invoice",
        "weekly",
        "digest",
        "release",
        "notes",
        "feature",
        "team",
        "welcome",
        "offer",
        "limited",
        "subscription",
        "renew",
        "password",
        "reset",
        "confirm",
        "address",
        "delivery",
        "tracking",
        "package",
        "report",
        "summary",
        "meeting",
        "agenda",
        "project",
        "milestone",
        "review",
        "deadline",
        "budget",
        "quarter",
        "growth",
        "customer",
        "support",
        "ticket",
        "resolved",
        "pending",
        "approved",
        "declined",
        "payment",
        "receipt",
        "balance",
        "statement",
        "security",
        "alert",
        "login",
        "device",
        "location",
        "browser",
        "version",
        "download",
        "install",
        "upgrade",
        "premium",
        "trial",
        "expires",
        "tomorrow",
        "today",
        "schedule",
        "event",
        "webinar",
        "register",
        "speaker",
        "session",
        "keynote",
        "workshop",
        "community",
        "forum",
        "thread",
        "reply",
        "mention",
        "follow",
        "share",
        "like",
        "comment",
        "photo",
        "album",
        "gallery",
        "video",
        "stream",
        "playlist",
        "podcast",
        "episode",
        "article",
        "story",
        "headline",
        "breaking",
        "local",
        "global",
        "market",
        "stock",
        "price",
        "rise",
        "fall",
        "analyst",
        "forecast",
        "weather",
    ]
)

COMMON_WORD = "quarterlyreport"
"""A word in every :data:`COMMON_EVERY`-th small mail (~5%, like the issue's 48k of 1M)."""
COMMON_EVERY = 21
RARE_WORD = "xylophonequokka"
"""A word in exactly one small mail, message number :data:`RARE_INDEX`."""
RARE_INDEX = 7
RECIPIENTS = 1000
"""Small mail goes to ``user{n % RECIPIENTS}@example.test``."""


_LETTERS = "abcdefghijklmnopqrstuvwxyz"

RARER_WORDS = 200_000
"""How many made-up words there are: the rarer vocabulary of the mail, drawn by Zipf's law."""


def _rarer_words() -> tuple[tuple[str, ...], list[float]]:
    """Return the made-up words (5 to 9 letters, fixed by a seed) and their cumulative weights.

    Word ``r`` (from 1) is drawn with weight ``1 / r``, as words are in real
    text (Zipf's law), so the vocabulary of a store grows ever slower and
    stops at :data:`RARER_WORDS`.  Before, every made-up word was seven
    random letters, new each time: 100,000 small mails had 2.2 million
    distinct words, the worst case for a store that keeps a vocabulary.
    """
    rng = random.Random(1949)
    words = tuple("".join(rng.choices(_LETTERS, k=rng.randint(5, 9))) for _ in range(RARER_WORDS))
    return words, list(itertools.accumulate(1 / rank for rank in range(1, RARER_WORDS + 1)))


_RARER, _RARER_CUMULATIVE = _rarer_words()


def _words(rng: random.Random, count: int) -> list[str]:
    """Return ``count`` words from :data:`WORDS`, with a rarer one (``_rarer_words``) now and then.

    ``rng._randbelow(n)`` is what ``rng.choice`` indexes by: the same words, in
    about half the time (making a million small mails is most of a fill's CPU).
    """
    out = []
    chance, below = rng.random, rng._randbelow  # type: ignore[attr-defined]
    words, rarer, cumulative = WORDS, _RARER, _RARER_CUMULATIVE
    top = cumulative[-1]
    for _ in range(count):
        if chance() < 0.08:
            out.append(rarer[bisect.bisect(cumulative, chance() * top)])
        else:
            out.append(words[below(len(words))])
    return out


def _fill(words: list[str], width: int) -> str:
    """Return ``textwrap.fill(" ".join(words), width)`` for words without spaces or hyphens.

    The same greedy lines, without textwrap's regular-expression split and
    chunk loop (three times faster; no word here is longer than ``width``).
    """
    lines: list[str] = []
    line: list[str] = []
    used = -1
    for word in words:
        if used + 1 + len(word) > width and line:
            lines.append(" ".join(line))
            line, used = [], -1
        line.append(word)
        used += 1 + len(word)
    if line:
        lines.append(" ".join(line))
    return "\n".join(lines)


def _paragraphs(rng: random.Random, chars: int) -> list[str]:
    """Return paragraphs of varied words adding up to about ``chars`` characters."""
    paragraphs, total = [], 0
    while total < chars:
        text = " ".join(_words(rng, rng.randint(30, 90))).capitalize() + "."
        paragraphs.append(text)
        total += len(text)
    return paragraphs


def _base64_part(rng: random.Random, ctype: str, filename: str, size: int, boundary: str) -> str:
    """Return one base64 attachment part of ``size`` random bytes."""
    data = rng.randbytes(size)
    if ctype == "application/pdf":
        data = b"%PDF-1.7\n" + data[9:]
    encoded = base64.encodebytes(data).decode("ascii").replace("\n", "\r\n")
    return (
        f"--{boundary}\r\n"
        f'Content-Type: {ctype}; name="{filename}"\r\n'
        "Content-Transfer-Encoding: base64\r\n"
        f'Content-Disposition: attachment; filename="{filename}"\r\n\r\n'
        f"{encoded}"
    )


def _alternative(rng: random.Random, text_chars: int, boundary: str) -> str:
    """Return a multipart/alternative part: the same paragraphs as text and as HTML."""
    paragraphs = _paragraphs(rng, text_chars)
    plain = "\r\n\r\n".join(textwrap.fill(p, 76).replace("\n", "\r\n") for p in paragraphs)
    items = "\r\n".join(
        f'<tr><td style="padding:8px;font-family:Arial,sans-serif;color:#333">'
        f'<h2 style="margin:0 0 6px">{" ".join(_words(rng, 4)).title()}</h2>\r\n'
        f"<p>{textwrap.fill(p, 76)}</p>\r\n"
        f'<a href="https://news.example.test/{rng.randrange(10**6)}">Read more</a></td></tr>'
        for p in paragraphs
    )
    html = (
        '<!DOCTYPE html>\r\n<html><head><meta charset="utf-8"><style>td{font-size:14px}</style>'
        '</head>\r\n<body><table width="600" align="center">\r\n'
        f"{items}\r\n</table></body></html>"
    )
    return (
        f"--{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\n"
        f"Content-Transfer-Encoding: 7bit\r\n\r\n{plain}\r\n"
        f"--{boundary}\r\nContent-Type: text/html; charset=utf-8\r\n"
        f"Content-Transfer-Encoding: 7bit\r\n\r\n{html}\r\n"
        f"--{boundary}--\r\n"
    )


def _headers(rng: random.Random, subject: str, outer: str, n: int) -> str:
    """Return the top-level headers of a multipart/mixed message."""
    return (
        f"From: Newsletter <news@sender.example.test>\r\n"
        f"To: reader{n}@example.test\r\n"
        f"Subject: {subject}\r\n"
        f"Date: Tue, 01 Dec 2026 12:{n % 60:02d}:00 +0000\r\n"
        f"Message-ID: <{rng.randrange(10**12)}.{n}@sender.example.test>\r\n"
        "MIME-Version: 1.0\r\n"
        "List-Unsubscribe: <https://news.example.test/unsubscribe>\r\n"
        f'Content-Type: multipart/mixed; boundary="{outer}"\r\n\r\n'
    )


def newsletter(seed: int = 19, n: int = 0) -> bytes:
    """Return the newsletter: ~30 KB text+HTML alternative and a ~200 KB base64 PDF."""
    rng = random.Random(seed * 1_000_003 + n)
    outer, inner = f"mixed-{seed}-{n}", f"alt-{seed}-{n}"
    subject = " ".join(_words(rng, 6)).capitalize()
    body = (
        _headers(rng, subject, outer, n)
        + f'--{outer}\r\nContent-Type: multipart/alternative; boundary="{inner}"\r\n\r\n'
        + _alternative(rng, 10_000, inner)
        + _base64_part(rng, "application/pdf", "report.pdf", 150_000, outer)
        + f"--{outer}--\r\n"
    )
    return body.encode("utf-8")


def large_mail(seed: int = 19, n: int = 0) -> bytes:
    """Return a 1 MB mail: short text/HTML and three base64 attachments."""
    rng = random.Random(seed * 7_000_003 + n)
    outer, inner = f"big-{seed}-{n}", f"bigalt-{seed}-{n}"
    subject = " ".join(_words(rng, 5)).capitalize()
    body = (
        _headers(rng, subject, outer, n)
        + f'--{outer}\r\nContent-Type: multipart/alternative; boundary="{inner}"\r\n\r\n'
        + _alternative(rng, 3_000, inner)
        + _base64_part(rng, "application/pdf", "contract.pdf", 400_000, outer)
        + _base64_part(rng, "image/png", "chart.png", 250_000, outer)
        + _base64_part(rng, "application/zip", "data.zip", 100_000, outer)
        + f"--{outer}--\r\n"
    )
    return body.encode("utf-8")


def small_mail(n: int, seed: int = 19) -> bytes:
    """Return varied ~2 KB plain text message number ``n`` (see the module docstring)."""
    rng = random.Random(seed * 9_000_011 + n)
    words = _words(rng, 260)
    if n % COMMON_EVERY == 0:
        words[rng.randrange(len(words))] = COMMON_WORD
    if n == RARE_INDEX:
        words[rng.randrange(len(words))] = RARE_WORD
    text = _fill(words, 76).replace("\n", "\r\n")
    subject = " ".join(_words(rng, 5)).capitalize()
    tags = "X-Tags: newsletter\r\n" if n % 50 == 0 else ""
    tags += "X-Tags: invoice, urgent\r\n" if n % 100 == 1 else ""
    return (
        f"From: App <app{n % 50}@sender.example.test>\r\n"
        f"{tags}"
        f"To: user{n % RECIPIENTS}@example.test\r\n"
        f"Subject: {subject} {n}\r\n"
        f"Date: Tue, 01 Dec 2026 12:00:00 +0000\r\n"
        f"Message-ID: <{n}.{seed}@sender.example.test>\r\n"
        "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        f"{text}\r\n"
    ).encode()


def as_source_file(raw: bytes) -> bytes:
    """Return a message as ``smtp-source -F`` wants it: LF lines (it adds CR LF and dots)."""
    return raw.replace(b"\r\n", b"\n")
