"""Find the caniemail CSS features a message uses, with tinycss2 doing the parsing.

Declarations come from ``style=""`` attributes (one element each) and from
``<style>`` sheets (each rule counts the elements its selector matches, as
Mailpit counts after inlining the sheet; a selector Lexbor cannot match, such
as ``a:hover``, counts once).  A declaration yields the property's feature
(``css-<property>`` or an alias), and its value's functions (``rgb()``,
``calc()``, gradients), units (``rem``, ``vw``) and keywords (``display:flex``,
``!important``).  Sheets also yield their at-rules (``@media`` and its
features) and the pseudo-classes and pseudo-elements in selectors.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

import tinycss2
import tinycss2.ast

PROPERTY_ALIASES = {
    "margin-block-start": "css-margin-block-start-end",
    "margin-block-end": "css-margin-block-start-end",
    "margin-inline-start": "css-margin-inline-start-end",
    "margin-inline-end": "css-margin-inline-start-end",
    "margin-inline": "css-margin-inline-block",
    "margin-block": "css-margin-inline-block",
    "padding-block-start": "css-padding-block-start-end",
    "padding-block-end": "css-padding-block-start-end",
    "padding-inline-start": "css-padding-inline-start-end",
    "padding-inline-end": "css-padding-inline-start-end",
    "padding-inline": "css-padding-inline-block",
    "padding-block": "css-padding-inline-block",
    "border-inline": "css-border-inline-block",
    "border-block": "css-border-inline-block",
    "border-inline-start": "css-border-inline-block-individual",
    "border-inline-end": "css-border-inline-block-individual",
    "border-block-start": "css-border-inline-block-individual",
    "border-block-end": "css-border-inline-block-individual",
    "block-size": "css-block-inline-size",
    "left": "css-left-right-top-bottom",
    "right": "css-left-right-top-bottom",
    "top": "css-left-right-top-bottom",
    "bottom": "css-left-right-top-bottom",
}
PROPERTY_PREFIXES = (
    ("animation", "css-animation"),
    ("transition", "css-transition"),
    ("grid-template", "css-grid-template"),
    ("scroll-snap", "css-scroll-snap"),
    ("column-", "css-column-layout-properties"),
    ("border-start-", "css-border-radius-logical"),
    ("border-end-", "css-border-radius-logical"),
    ("border-inline-", "css-border-inline-block-longhand"),
    ("border-block-", "css-border-inline-block-longhand"),
)
FUNCTIONS = {
    "rgb": "css-rgb",
    "rgba": "css-rgba",
    "calc": "css-unit-calc",
    "linear-gradient": "css-linear-gradient",
    "repeating-linear-gradient": "css-linear-gradient",
    "radial-gradient": "css-radial-gradient",
    "repeating-radial-gradient": "css-radial-gradient",
    "conic-gradient": "css-conic-gradient",
    "clamp": "css-function-clamp",
    "min": "css-function-min",
    "max": "css-function-max",
    "light-dark": "css-function-light-dark",
    "var": "css-variables",
}
UNITS = {"ch", "rem", "vh", "vw", "vmin", "vmax"}
DISPLAY_VALUES = {
    "flex": "css-display-flex",
    "inline-flex": "css-display-flex",
    "grid": "css-display-grid",
    "inline-grid": "css-display-grid",
    "none": "css-display-none",
}
AT_RULES = {
    "font-face": "css-at-font-face",
    "import": "css-at-import",
    "keyframes": "css-at-keyframes",
    "media": "css-at-media",
    "supports": "css-at-supports",
}
MEDIA_FEATURES = {
    "prefers-color-scheme": "css-at-media-prefers-color-scheme",
    "prefers-reduced-motion": "css-at-media-prefers-reduced-motion",
    "orientation": "css-at-media-orientation",
    "hover": "css-at-media-hover",
    "device-pixel-ratio": "css-at-media-device-pixel-ratio",
}
PSEUDO_ELEMENTS_WITH_ONE_COLON = {"before", "after"}


def property_slug(name: str, known: Callable[[str], bool]) -> str | None:
    """Return the caniemail slug of a property, None when caniemail has none."""
    if name.startswith("--"):
        return "css-variables"
    if name in PROPERTY_ALIASES:
        return PROPERTY_ALIASES[name]
    if known(f"css-{name}"):
        return f"css-{name}"
    for prefix, slug in PROPERTY_PREFIXES:
        if name.startswith(prefix):
            return slug
    return None


def _value_features(tokens: Iterable[Any], found: set[str]) -> None:
    """Add the functions, units and keywords used in a value (functions recursively)."""
    stack = [iter(tokens)]
    while stack:
        token = next(stack[-1], None)
        if token is None:
            stack.pop()
            continue
        if token.type == "function":
            slug = FUNCTIONS.get(token.lower_name)
            if slug:
                found.add(slug)
            if len(stack) < 32:
                stack.append(iter(token.arguments))
        elif token.type == "dimension" and token.lower_unit in UNITS:
            found.add(f"css-unit-{token.lower_unit}")
        elif token.type == "ident" and token.lower_value == "initial":
            found.add("css-unit-initial")
        elif token.type == "ident" and token.lower_value == "system-ui":
            found.add("css-sytem-ui")


def declaration_features(declarations: Iterable[Any], known: Callable[[str], bool]) -> set[str]:
    """Return the features a list of tinycss2 declarations uses."""
    found: set[str] = set()
    for item in declarations:
        if item.type != "declaration":
            continue
        slug = property_slug(item.lower_name, known)
        if slug:
            found.add(slug)
        if item.important:
            found.add("css-important")
        if item.lower_name == "display":
            for token in item.value:
                if token.type == "ident" and token.lower_value in DISPLAY_VALUES:
                    found.add(DISPLAY_VALUES[token.lower_value])
        _value_features(item.value, found)
    return found


def selector_features(prelude: list[Any]) -> set[str]:
    """Return the pseudo-classes and pseudo-elements a selector uses."""
    found: set[str] = set()
    colons = 0
    for token in prelude:
        if token.type == "literal" and token.value == ":":
            colons += 1
            continue
        if colons and token.type in ("ident", "function"):
            name = token.lower_value if token.type == "ident" else token.lower_name
            element = colons >= 2 or name in PSEUDO_ELEMENTS_WITH_ONE_COLON
            found.add(f"css-pseudo-{'element' if element else 'class'}-{name}")
        colons = 0
    return found


def _match_count(tree: Any, selector: str) -> int:
    """Count the elements a selector matches; 1 when Lexbor cannot match it."""
    if ":" in selector:
        return 1
    try:
        return len(tree.css(selector))
    except Exception:  # noqa: BLE001 - Lexbor refuses selectors it does not support
        return 1


def sheet_features(
    css: str, tree: Any, known: Callable[[str], bool], tick: Callable[[], None], budget: list[int]
) -> Counter[str]:
    """Count the features of one style sheet; ``budget`` caps the rules looked at."""
    found: Counter[str] = Counter()
    pending = [tinycss2.parse_stylesheet(css, skip_comments=True, skip_whitespace=True)]
    while pending:
        for rule in pending.pop():
            budget[0] -= 1
            if budget[0] < 0:
                return found
            if budget[0] % 100 == 0:
                tick()
            if rule.type == "at-rule":
                _at_rule_features(rule, found, pending)
            elif rule.type == "qualified-rule":
                selector = tinycss2.serialize(rule.prelude).strip()
                for slug in selector_features(rule.prelude):
                    found[slug] += 1
                count = _match_count(tree, selector)
                if count:
                    content = tinycss2.parse_blocks_contents(
                        rule.content, skip_comments=True, skip_whitespace=True
                    )
                    for slug in declaration_features(content, known):
                        found[slug] += count
    return found


def _at_rule_features(rule: Any, found: Counter[str], pending: list[Any]) -> None:
    """Count an at-rule and its media features; queue the rules nested in it."""
    slug = AT_RULES.get(rule.lower_at_keyword)
    if slug:
        found[slug] += 1
    if rule.lower_at_keyword == "media":
        prelude = tinycss2.serialize(rule.prelude).lower()
        for feature, feature_slug in MEDIA_FEATURES.items():
            if feature in prelude:
                found[feature_slug] += 1
    if rule.lower_at_keyword in ("media", "supports") and rule.content is not None:
        pending.append(
            tinycss2.parse_rule_list(rule.content, skip_comments=True, skip_whitespace=True)
        )


def css_features(tree: Any, tick: Callable[[], None], max_rules: int) -> Counter[str]:
    """Count the CSS features in the sheets and ``style`` attributes of a parsed document."""
    from mailsink.checks.html_compat import caniemail

    by_slug = caniemail()["by_slug"]

    def known(slug: str) -> bool:
        return slug in by_slug

    found: Counter[str] = Counter()
    budget = [max_rules]
    for style in tree.css("style"):
        found.update(sheet_features(style.text(deep=True), tree, known, tick, budget))
    # Mail repeats the same style="" on many elements: each distinct text is parsed once.
    parsed: dict[str, set[str]] = {}
    for number, element in enumerate(tree.css("[style]")):
        if number % 500 == 0:
            tick()
        text = element.attributes.get("style") or ""
        slugs = parsed.get(text)
        if slugs is None:
            declarations = tinycss2.parse_blocks_contents(
                text, skip_comments=True, skip_whitespace=True
            )
            slugs = parsed[text] = declaration_features(declarations, known)
        for slug in slugs:
            found[slug] += 1
    return found
