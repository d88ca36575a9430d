"""The dashboard's jobs chart is readable in both colour schemes: every colour it draws
with, read from the style sheets the page loads, meets WCAG's contrast against the page
behind it (text 4.5:1, bars, legend swatches and the baseline 3:1: success criterion
1.4.11), its two series stay apart without hue (for people who cannot tell green from red),
and no word of it is under 12 px.

The colours are parsed from their one source, the custom properties of ``static/style.css``
and ``static/admin.css``, and the chart's rules are found by their selectors, so a new
colour or a changed one is checked without touching this test."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

STATIC = Path(__file__).resolve().parents[2] / "static"
SCHEMES = ("light", "dark")
# The chart's rules: the figure, its axis words, its legend and swatches.
CHART = re.compile(r"jobs-chart|chart-axis|swatch")
COLOUR_PROPERTIES = {"color": "text", "fill": "graphic", "stroke": "graphic",
                     "background": "graphic"}  # fmt: skip
MINIMUM = {"text": 4.5, "graphic": 3.0}
# Machado, Oliveira and Fernandes (2009), full severity, on linear RGB.
BLINDNESS = {
    "deuteranopia": ((0.367322, 0.860646, -0.227968), (0.280085, 0.672501, 0.047413),
                     (-0.011820, 0.042940, 0.968881)),
    "protanopia": ((0.152286, 1.052583, -0.204868), (0.114503, 0.786281, 0.099216),
                   (-0.003882, -0.048116, 1.051998)),
}  # fmt: skip


def rules(css: str, scheme: str = "light") -> list[tuple[str, str, str]]:
    """(scheme, selector, declarations) of each rule, in order; a ``prefers-color-scheme:
    dark`` block's rules are the dark scheme's, other ``@media`` blocks' are kept as they are."""
    css = re.sub(r"/\*.*?\*/", "", css, flags=re.S)
    found, at = [], 0
    while (brace := css.find("{", at)) != -1:
        selector, depth, end = css[at:brace].strip(), 1, brace + 1
        while depth:
            depth += {"{": 1, "}": -1}.get(css[end], 0)
            end += 1
        body = css[brace + 1 : end - 1]
        if selector.startswith("@media"):
            inner = "dark" if "prefers-color-scheme: dark" in selector else scheme
            found += rules(body, inner)
        else:
            found.append((scheme, selector, body))
        at = end
    return found


def declarations(body: str) -> dict[str, str]:
    """A rule's declarations, by property."""
    pairs = (d.split(":", 1) for d in body.split(";") if ":" in d)
    return {name.strip(): value.strip() for name, value in pairs}


def palette(sheets: list[str]) -> dict[str, dict[str, str]]:
    """Each scheme's custom properties, dark over light, later sheets over earlier ones."""
    light: dict[str, str] = {}
    dark: dict[str, str] = {}
    for css in sheets:
        for scheme, selector, body in rules(css):
            if selector == ":root":
                props = {k: v for k, v in declarations(body).items() if k.startswith("--")}
                (light if scheme == "light" else dark).update(props)
    return {"light": light, "dark": {**light, **dark}}


def resolve(value: str, props: dict[str, str]) -> str:
    """A colour value with its ``var()``s followed to the hex colour they name."""
    while (var := re.fullmatch(r"var\((--[\w-]+)\)", value)) is not None:
        value = props[var.group(1)]
    assert re.fullmatch(r"#[0-9a-fA-F]{6}", value), f"not a plain colour: {value}"
    return value


def linear(hex_colour: str) -> tuple[float, ...]:
    """The colour's sRGB channels, linearised."""
    channels = (int(hex_colour[i : i + 2], 16) / 255 for i in (1, 3, 5))
    return tuple(c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels)


def luminance(rgb: tuple[float, ...]) -> float:
    """WCAG's relative luminance of linear RGB."""
    return 0.2126 * rgb[0] + 0.7152 * rgb[1] + 0.0722 * rgb[2]


def ratio(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    """WCAG's contrast ratio of two linear RGB colours."""
    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def seen_with(rgb: tuple[float, ...], blindness: str) -> tuple[float, ...]:
    """How the colour looks to someone with ``blindness``."""
    rows = BLINDNESS[blindness]
    mixed = (sum(m * c for m, c in zip(row, rgb, strict=True)) for row in rows)
    return tuple(min(1.0, max(0.0, channel)) for channel in mixed)


SHEETS = [(STATIC / name).read_text() for name in ("style.css", "admin.css")]
PALETTE = palette(SHEETS)
ADMIN_RULES = rules(SHEETS[1])


def chart_colours(scheme: str) -> list[tuple[str, str, str, str]]:
    """(selector, property, kind, hex colour) of every colour the chart's rules draw with
    in ``scheme``, the rules of that scheme's media blocks included."""
    found = []
    for rule_scheme, selector, body in ADMIN_RULES:
        if not CHART.search(selector) or rule_scheme not in ("light", scheme):
            continue
        for prop, value in declarations(body).items():
            if prop in COLOUR_PROPERTIES:
                hex_colour = resolve(value, PALETTE[scheme])
                found.append((selector, prop, COLOUR_PROPERTIES[prop], hex_colour))
    return found


def test_the_chart_s_rules_are_found_and_draw_both_series_from_custom_properties():
    for scheme in SCHEMES:
        drawn = {(prop, colour) for _, prop, _, colour in chart_colours(scheme)}
        props = PALETTE[scheme]
        assert ("fill", resolve("var(--chart-succeeded)", props)) in drawn
        assert ("fill", resolve("var(--chart-failed)", props)) in drawn
        assert ("color", resolve("var(--fg)", props)) in drawn
    # Every chart colour is a custom property, so that the schemes can differ.
    for _, selector, body in ADMIN_RULES:
        if CHART.search(selector):
            for prop, value in declarations(body).items():
                if prop in COLOUR_PROPERTIES:
                    assert value.startswith("var(--"), (selector, prop, value)


@pytest.mark.parametrize("scheme", SCHEMES)
def test_every_chart_colour_stands_out_from_the_page(scheme):
    props = PALETTE[scheme]
    page = linear(resolve("var(--bg)", props))
    # The words of the chart's axis that are notes (per minute) are the page's muted text.
    colours = [*chart_colours(scheme), (".note", "color", "text", resolve("var(--muted)", props))]
    misses = [
        (selector, prop, colour, round(ratio(linear(colour), page), 2))
        for selector, prop, kind, colour in colours
        if ratio(linear(colour), page) < MINIMUM[kind]
    ]
    assert misses == []


@pytest.mark.parametrize("scheme", SCHEMES)
def test_the_two_series_differ_in_lightness_not_only_in_hue(scheme):
    props = PALETTE[scheme]
    succeeded = linear(resolve("var(--chart-succeeded)", props))
    failed = linear(resolve("var(--chart-failed)", props))
    assert ratio(succeeded, failed) >= 2.0
    for blindness in BLINDNESS:
        seen = ratio(seen_with(succeeded, blindness), seen_with(failed, blindness))
        assert seen >= 1.8, (blindness, round(seen, 2))


def test_no_word_of_the_chart_is_under_12_px():
    sizes = [
        (selector, declarations(body)["font-size"])
        for _, selector, body in ADMIN_RULES
        if CHART.search(selector) or "legend" in selector
        if "font-size" in declarations(body)
    ]
    assert sizes, "the chart's rules set its words' size"
    for selector, size in sizes:
        number, unit = re.fullmatch(r"([\d.]+)(px|rem)", size).groups()  # type: ignore[union-attr]
        assert float(number) * (16 if unit == "rem" else 1) >= 12, (selector, size)
