"""The HTML compatibility check: which HTML and CSS features of a message email clients lack.

Mailpit's ``/html-check`` in the same shape (``Platforms``, ``Total``,
``Warnings`` with per-client ``Results`` and a ``Score``), scored against the
caniemail.com data set (``data/caniemail.json``, see ``data/README.md``).

- HTML is parsed with selectolax's Lexbor engine: a real HTML5 tree builder in
  C with CSS selectors, so Mailpit's selector table maps over directly; it
  parses a 4.5 MB newsletter in 0.05 s where html5lib (pure Python) takes 2 s
  (``python -m benchmarks.html_check``).
- CSS (``<style>`` sheets and ``style=""`` attributes) is parsed with tinycss2,
  so features are found in real declarations, at-rules, selectors, functions
  and units, not by regular expressions over the text.  Remote stylesheets are
  never fetched (an outbound request chosen by mail content).

Hostile input is refused before parsing, with :class:`TooLargeToCheckError`: more
than :data:`MAX_HTML_BYTES`, more than :data:`MAX_ELEMENTS` tags, or block
elements nested deeper than :data:`MAX_BLOCK_DEPTH` (Lexbor's tree builder
scans the open-element stack for every block start tag, so 100k nested
``<div>`` take minutes there).  The check also stops past :data:`TIME_LIMIT`.
"""

from __future__ import annotations

import json
import re
import time
from collections import Counter
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

MAX_HTML_BYTES = 5 * 1024 * 1024
MAX_ELEMENTS = 100_000
MAX_BLOCK_DEPTH = 1_000
MAX_CSS_RULES = 5_000
TIME_LIMIT = 10.0
"""Seconds one check may take before it answers "too large to check"."""

_BODY_END = re.compile(r"</body", re.I)
_START_TAG = re.compile(r"<[a-zA-Z]")
# Block elements whose start tag makes Lexbor look through the open-element stack.  Only the
# tag's start is matched: HTML ignores a self-closing "/" on these, and scanning on to the
# ">" would rescan the rest of the text for every "<div" without one (quadratic).
_BLOCK_TAG = re.compile(
    r"<(/?)(?:div|ul|ol|dl|blockquote|section|article|aside|nav|header|footer|main|fieldset|"
    r"figure|figcaption|details|summary|dialog|center|address|form|menu|dir|hgroup|search)\b",
    re.I,
)

HTML_TESTS = {
    "html-object": "object, embed",
    "html-link": "link",
    "html-hr": "hr",
    "html-dialog": "dialog",
    "html-srcset": "[srcset]",
    "html-picture": "picture",
    "html-svg": "svg",
    "html-progress": "progress",
    "html-required": "[required]",
    "html-meter": "meter",
    "html-audio": "audio",
    "html-form": "form",
    "html-input-submit": 'input[type="submit"]',
    "html-input-reset": 'input[type="reset"]',
    "html-button-reset": 'button[type="reset"]',
    "html-button-submit": 'button[type="submit"]',
    "html-base": "base",
    "html-input-checkbox": 'input[type="checkbox"]',
    "html-input-hidden": 'input[type="hidden"]',
    "html-input-radio": 'input[type="radio"]',
    "html-input-text": 'input[type="text"]',
    "html-video": "video",
    "html-semantics": (
        "article, aside, details, figcaption, figure, footer, header, main, mark, nav, "
        "section, summary, time"
    ),
    "html-select": "select",
    "html-textarea": "textarea",
    "html-anchor-links": 'a[href^="#"]',
    "html-style": "style",
    "html-image-maps": "map, img[usemap]",
}
"""caniemail slug -> the selector of the elements that use the feature (Mailpit's table)."""

IMAGE_TESTS = {
    "image-apng": re.compile(r"\.apng$", re.I),
    "image-avif": re.compile(r"\.avif$", re.I),
    "image-base64": re.compile(r"^data:image/", re.I),
    "image-bmp": re.compile(r"\.bmp$", re.I),
    "image-gif": re.compile(r"\.gif$", re.I),
    "image-hdr": re.compile(r"\.hdr$", re.I),
    "image-heif": re.compile(r"\.heif$", re.I),
    "image-ico": re.compile(r"\.ico$", re.I),
    "image-mp4": re.compile(r"\.mp4$", re.I),
    "image-svg": re.compile(r"\.svg$", re.I),
    "image-tiff": re.compile(r"\.tiff?$", re.I),
    "image-webp": re.compile(r"\.webp$", re.I),
}

STYLE_ATTRIBUTES = {
    "css-background-color": "[bgcolor]",
    "css-background": "[background]",
    "css-border": "[border]",
    "css-height": "[height]",
    "css-padding": "[padding]",
    "css-width": "[width]",
}
"""Presentational attributes that clients treat as the CSS property (Mailpit's table)."""


class TooLargeToCheckError(ValueError):
    """The HTML is beyond what the check will parse; the message says which limit."""


@dataclass(frozen=True)
class Limits:
    """The bounds of one check (tests lower them)."""

    max_bytes: int = MAX_HTML_BYTES
    max_elements: int = MAX_ELEMENTS
    max_block_depth: int = MAX_BLOCK_DEPTH
    time_limit: float = TIME_LIMIT


@cache
def caniemail() -> dict[str, Any]:
    """Return the caniemail.com data set shipped with mailsink (loaded once)."""
    text = resources.files("mailsink.checks").joinpath("data/caniemail.json").read_text("utf-8")
    data: dict[str, Any] = json.loads(text)
    data["by_slug"] = {feature["slug"]: feature for feature in data["data"]}
    return data


@cache
def platforms() -> dict[str, list[str]]:
    """Return ``{platform: [client family names]}`` over the whole data set (Mailpit's)."""
    data = caniemail()
    families = data["nicenames"]["family"]
    found: dict[str, set[str]] = {}
    for feature in data["data"]:
        for family, stats in feature["stats"].items():
            for platform in stats:
                found.setdefault(platform, set()).add(families.get(family, family))
    return {platform: sorted(names) for platform, names in found.items()}


_NOTE = re.compile(r"#(\d+)")


def warning_for(slug: str, found: int) -> dict[str, Any] | None:
    """Return Mailpit's HTMLCheckWarning for a feature used ``found`` times, None if unknown."""
    feature = caniemail()["by_slug"].get(slug)
    if feature is None:
        return None
    names = caniemail()["nicenames"]
    results = []
    counts: Counter[str] = Counter()
    for family, stats in feature["stats"].items():
        for platform, versions in stats.items():
            for version, support in versions.items():
                text = str(support)
                kind = {"y": "yes", "n": "no"}.get(text, "partial")
                note = _NOTE.search(text)
                counts[kind] += 1
                results.append(
                    {
                        "Name": f"{names['family'].get(family, family)} "
                        f"{names['platform'].get(platform, platform)} ({version})",
                        "Platform": platform,
                        "Family": family,
                        "Version": version,
                        "Support": kind,
                        "NoteNumber": note.group(1) if note and kind == "partial" else "",
                    }
                )
    total = sum(counts.values()) or 1
    return {
        "Slug": slug,
        "Title": feature["title"],
        "Description": feature.get("description") or "",
        "URL": feature.get("url") or "",
        "Category": feature.get("category") or "",
        "Tags": feature.get("tags") or [],
        "Keywords": feature.get("keywords") or "",
        "Results": results,
        "NotesByNumber": dict(feature.get("notes_by_num") or {}),
        "Score": {
            "Found": found,
            "Supported": counts["yes"] / total * 100,
            "Partial": counts["partial"] / total * 100,
            "Unsupported": counts["no"] / total * 100,
        },
    }


def _script_warning(found: int) -> dict[str, Any]:
    """Return Mailpit's own warning for ``<script>`` (not in caniemail: no client runs it)."""
    return {
        "Slug": "html-script",
        "Title": "<script> element",
        "Description": "JavaScript is not supported in any email client.",
        "URL": "",
        "Category": "html",
        "Tags": [],
        "Keywords": "",
        "Results": [],
        "NotesByNumber": {},
        "Score": {"Found": found, "Supported": 0, "Partial": 0, "Unsupported": 100},
    }


def check_bounds(html: str, limits: Limits) -> None:
    """Refuse HTML that is too big or too deep to parse in bounded time."""
    size = len(html.encode("utf-8", "surrogatepass"))
    if size > limits.max_bytes:
        raise TooLargeToCheckError(
            f"HTML too large to check: {size} bytes (the limit is {limits.max_bytes})"
        )
    elements = len(_START_TAG.findall(html))
    if elements > limits.max_elements:
        raise TooLargeToCheckError(
            f"HTML too large to check: {elements} tags (the limit is {limits.max_elements})"
        )
    depth = deepest = 0
    for match in _BLOCK_TAG.finditer(html):
        if match.group(1):
            depth = max(depth - 1, 0)
        else:
            depth += 1
            deepest = max(deepest, depth)
    if deepest > limits.max_block_depth:
        raise TooLargeToCheckError(
            f"HTML too deeply nested to check: {deepest} levels of block elements "
            f"(the limit is {limits.max_block_depth})"
        )


class _Deadline:
    """Raise TooLargeToCheckError once the time limit has passed."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.end = time.monotonic() + seconds

    def check(self) -> None:
        if time.monotonic() > self.end:
            raise TooLargeToCheckError(
                f"HTML too large to check: took longer than {self.seconds:g} s"
            )


def count_nodes(tree: Any, has_body_end: bool) -> int:
    """Count elements as Mailpit does (all but html/head/meta, or those inside body)."""
    if has_body_end:
        skip = {"html", "head", "meta", "-text", "-comment", "!doctype", "_text", "_comment"}
        return sum(1 for node in tree.root.traverse() if node.tag not in skip)
    body = tree.body
    inside = 0 if body is None else sum(1 for _ in body.traverse()) - 1
    head_scripts = len(tree.head.css("script")) if tree.head is not None else 0
    return inside + head_scripts


def _html_features(tree: Any, html: str) -> Counter[str]:
    """Count the elements using each HTML feature and image format."""
    found: Counter[str] = Counter()
    if _BODY_END.search(html):
        found["html-body"] = 1
    for slug, selector in HTML_TESTS.items():
        count = len(tree.css(selector))
        if count:
            found[slug] = count
    for image in tree.css("img[src]"):
        source = (image.attributes.get("src") or "").strip()
        for slug, pattern in IMAGE_TESTS.items():
            if pattern.search(source):
                found[slug] += 1
    for slug, selector in STYLE_ATTRIBUTES.items():
        if tree.css_first(selector) is not None:
            found[slug] += 1
    return found


def check_html(html: str, limits: Limits | None = None) -> dict[str, Any]:
    """Return Mailpit's HTMLCheckResponse for an HTML body; TooLargeToCheckError past the limits."""
    from selectolax.lexbor import LexborHTMLParser

    from mailsink.checks.css_features import css_features

    limits = limits or Limits()
    deadline = _Deadline(limits.time_limit)
    check_bounds(html, limits)
    tree = LexborHTMLParser(html)
    deadline.check()
    nodes = max(count_nodes(tree, bool(_BODY_END.search(html))), 1)
    found = _html_features(tree, html)
    deadline.check()
    found.update(css_features(tree, deadline.check, MAX_CSS_RULES))
    scripts = len(
        tree.css('script:not([type="application/ld+json"]):not([type="application/json"])')
    )
    warnings = [_script_warning(scripts)] if scripts else []
    for slug, count in found.items():
        warning = warning_for(slug, count)
        if warning is not None:
            warnings.append(warning)
    tests = 1 + len(HTML_TESTS) + len(IMAGE_TESTS) + len(STYLE_ATTRIBUTES) + len(found)
    return {
        "Warnings": _sorted(warnings, nodes),
        "Platforms": platforms(),
        "Total": _total(warnings, nodes, tests),
    }


def _weight(warning: dict[str, Any], key: str, nodes: int) -> float:
    """Return a score share weighted by how many elements use the feature."""
    score = warning["Score"]
    return float(score[key] * score["Found"] / nodes)


def _sorted(warnings: list[dict[str, Any]], nodes: int) -> list[dict[str, Any]]:
    """Sort warnings worst first, as Mailpit does."""
    return sorted(
        warnings,
        key=lambda w: -(_weight(w, "Unsupported", nodes) + _weight(w, "Partial", nodes)),
    )


def _total(warnings: list[dict[str, Any]], nodes: int, tests: int) -> dict[str, Any]:
    """Return Mailpit's Total: the worst weighted partial and unsupported shares."""
    partial = min(max((_weight(w, "Partial", nodes) for w in warnings), default=0.0), 100.0)
    unsupported = min(
        max((_weight(w, "Unsupported", nodes) for w in warnings), default=0.0), 100 - partial
    )
    return {
        "Nodes": nodes,
        "Tests": tests,
        "Supported": 100 - partial - unsupported,
        "Partial": partial,
        "Unsupported": unsupported,
    }
