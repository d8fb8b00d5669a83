"""Small SVG charts for the report page, drawn on the server from numbers: no script, no CDN.

Each chart is an `<svg role="img">` labelled by its `<title>` and `<desc>` (the desc says
what the picture shows in words); the page puts the same numbers in a real table next to
it. Every piece of text that reaches the markup is escaped here, so step names, goal names
and variant keys written by authors stay text. Colours are SVG presentation attributes,
which the page's Content-Security-Policy allows, not inline styles.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

WIDTH = 1100
"""Every chart's viewBox width; the page scales it to the column (`.chart` in app.css)."""
LABEL_WIDTH = 200
FONT = 'font-family="system-ui, sans-serif" font-size="12"'
INK, MUTED, LINE = "#1d2430", "#677185", "#e3e7ee"
PALETTE = ("#1f6feb", "#0e9f6e", "#d97706", "#9333ea", "#db2777", "#0891b2", "#b42318")
"""Series colours, in order; a chart with more series repeats them (its legend says which)."""


@dataclass(frozen=True)
class Series:
    key: str
    label: str
    colour: str


@dataclass(frozen=True)
class Bars:
    """One group of horizontal bars (a step of the funnel): its label and a value per series."""

    label: str
    values: dict[str, int]


@dataclass(frozen=True)
class Estimate:
    """A rate or a difference with its interval; `strong` draws it in the accent colour."""

    label: str
    value: float | None
    interval: tuple[float, float] | None
    strong: bool = False


def series(pairs: Sequence[tuple[str, str]]) -> list[Series]:
    """(key, label) pairs with colours from the palette, in order."""
    return [
        Series(key, label, PALETTE[index % len(PALETTE)])
        for index, (key, label) in enumerate(pairs)
    ]


def grouped_bars(
    name: str, title: str, desc: str, groups: Sequence[Bars], kinds: Sequence[Series]
) -> Markup:
    """Horizontal bars, one group per row (a label on the left), one bar per series, all on
    one scale so a step's sends can be compared with the one before it."""
    bar, gap = 9, 14
    top = 28  # the legend
    group_height = bar * len(kinds) + gap
    height = top + group_height * max(len(groups), 1) + 4
    peak = max((value for group in groups for value in group.values.values()), default=0)
    span = WIDTH - LABEL_WIDTH - 60
    parts = [_legend(kinds, 0)]
    for row, group in enumerate(groups):
        y = top + row * group_height
        parts.append(
            f'<text x="0" y="{y + bar * len(kinds) / 2 + 4:.1f}" fill="{INK}">'
            f"{escape(_clip(group.label, 28))}</text>"
        )
        for index, kind in enumerate(kinds):
            value = group.values.get(kind.key, 0)
            length = span * value / peak if peak else 0
            by = y + index * bar
            parts.append(
                f'<rect x="{LABEL_WIDTH}" y="{by}" width="{length:.1f}" height="{bar - 2}" '
                f'fill="{kind.colour}"><title>{escape(group.label)}, {escape(kind.label)}: '
                f"{value:,}</title></rect>"
            )
            if value:  # a zero needs no label: the table beside the chart says it
                parts.append(
                    f'<text x="{LABEL_WIDTH + length + 4:.1f}" y="{by + bar - 2}" '
                    f'font-size="9" fill="{MUTED}">{value:,}</text>'
                )
        parts.append(
            f'<line x1="0" x2="{WIDTH}" y1="{y + group_height - gap / 2:.1f}" '
            f'y2="{y + group_height - gap / 2:.1f}" stroke="{LINE}"/>'
        )
    return _svg(name, title, desc, height, parts)


def stacked_columns(
    name: str,
    title: str,
    desc: str,
    days: Sequence[tuple[str, dict[str, int]]],
    kinds: Sequence[Series],
) -> Markup:
    """One column per day, stacked by series (a goal), with the scale's top on the left."""
    top, bottom, left = 28, 22, 36
    height = 200
    plot = height - top - bottom
    peak = max((sum(values.values()) for _, values in days), default=0)
    slot = (WIDTH - left) / max(len(days), 1)
    width = max(min(slot * 0.7, 40), 2)
    parts = [
        _legend(kinds, 0),
        f'<line x1="{left}" x2="{WIDTH}" y1="{top + plot}" y2="{top + plot}" stroke="{MUTED}"/>',
        f'<text x="{left - 6}" y="{top + 4}" text-anchor="end" fill="{MUTED}">{peak:,}</text>',
        f'<text x="{left - 6}" y="{top + plot}" text-anchor="end" fill="{MUTED}">0</text>',
    ]
    every = max(1, len(days) // 8)  # about eight day labels, however long the range
    for index, (day, values) in enumerate(days):
        x = left + index * slot + (slot - width) / 2
        base = top + plot
        for kind in kinds:
            value = values.get(kind.key, 0)
            if not value or not peak:
                continue
            tall = plot * value / peak
            base -= tall
            parts.append(
                f'<rect x="{x:.1f}" y="{base:.1f}" width="{width:.1f}" height="{tall:.1f}" '
                f'fill="{kind.colour}"><title>{escape(day)}, {escape(kind.label)}: {value:,}'
                "</title></rect>"
            )
        if index % every == 0:
            parts.append(
                f'<text x="{x + width / 2:.1f}" y="{height - 6}" text-anchor="middle" '
                f'fill="{MUTED}">{escape(day[5:])}</text>'
            )
    return _svg(name, title, desc, height, parts)


def estimates(
    name: str,
    title: str,
    desc: str,
    rows: Sequence[Estimate],
    low: float,
    high: float,
    show: Callable[[float], str],
) -> Markup:
    """Each row's value as a dot on one scale from `low` to `high` with its interval as a
    line through it; a zero line when the scale crosses zero (a lift)."""
    row_height, top = 26, 8
    height = top + row_height * max(len(rows), 1) + 24
    left, right = LABEL_WIDTH, WIDTH - 80
    low, high = (low, high) if high > low else (low, low + 1)

    def x(value: float) -> float:
        return left + (right - left) * (min(max(value, low), high) - low) / (high - low)

    axis = top + row_height * len(rows) + 4
    parts = [
        f'<line x1="{left}" x2="{right}" y1="{axis}" y2="{axis}" stroke="{MUTED}"/>',
        f'<text x="{left}" y="{axis + 16}" text-anchor="middle" fill="{MUTED}">'
        f"{escape(show(low))}</text>",
        f'<text x="{right}" y="{axis + 16}" text-anchor="middle" fill="{MUTED}">'
        f"{escape(show(high))}</text>",
    ]
    if low < 0 < high:
        parts.append(
            f'<line x1="{x(0):.1f}" x2="{x(0):.1f}" y1="{top}" y2="{axis}" stroke="{MUTED}" '
            'stroke-dasharray="3 3"/>'
            f'<text x="{x(0):.1f}" y="{axis + 16}" text-anchor="middle" fill="{MUTED}">0</text>'
        )
    for index, row in enumerate(rows):
        y = top + index * row_height + row_height / 2
        colour = PALETTE[0] if row.strong else MUTED
        parts.append(
            f'<text x="0" y="{y + 4:.1f}" fill="{INK}">{escape(_clip(row.label, 24))}</text>'
        )
        if row.interval is not None:
            a, b = x(row.interval[0]), x(row.interval[1])
            parts.append(
                f'<line x1="{a:.1f}" x2="{b:.1f}" y1="{y:.1f}" y2="{y:.1f}" stroke="{colour}" '
                f'stroke-width="2"/><line x1="{a:.1f}" x2="{a:.1f}" y1="{y - 5:.1f}" '
                f'y2="{y + 5:.1f}" stroke="{colour}"/><line x1="{b:.1f}" x2="{b:.1f}" '
                f'y1="{y - 5:.1f}" y2="{y + 5:.1f}" stroke="{colour}"/>'
            )
        if row.value is not None:
            spread = (
                f" ({escape(show(row.interval[0]))} to {escape(show(row.interval[1]))})"
                if row.interval
                else ""
            )
            parts.append(
                f'<circle cx="{x(row.value):.1f}" cy="{y:.1f}" r="5" fill="{colour}">'
                f"<title>{escape(row.label)}: {escape(show(row.value))}{spread}</title></circle>"
                f'<text x="{right + 10}" y="{y + 4:.1f}" fill="{INK}">'
                f"{escape(show(row.value))}</text>"
            )
    return _svg(name, title, desc, height, parts)


def _legend(kinds: Sequence[Series], y: int) -> str:
    parts, x = [], LABEL_WIDTH
    for kind in kinds:
        parts.append(
            f'<rect x="{x}" y="{y + 4}" width="10" height="10" fill="{kind.colour}"/>'
            f'<text x="{x + 14}" y="{y + 13}" fill="{INK}">{escape(_clip(kind.label, 20))}</text>'
        )
        x += 22 + 7 * min(len(kind.label), 20)
    return "".join(parts)


def _svg(name: str, title: str, desc: str, height: float, parts: Sequence[str]) -> Markup:
    """The chart's frame; `name` (unique on the page) makes the ids its label points to."""
    title_id, desc_id = f"{escape(name)}-title", f"{escape(name)}-desc"
    return Markup(
        f'<svg class="chart" id="{escape(name)}" role="img" viewBox="0 0 {WIDTH} {height:.0f}" '
        f'aria-labelledby="{title_id} {desc_id}" xmlns="http://www.w3.org/2000/svg" {FONT}>'
        f'<title id="{title_id}">{escape(title)}</title><desc id="{desc_id}">{escape(desc)}</desc>'
        f"{''.join(parts)}</svg>"
    )


def _clip(text: str, length: int) -> str:
    """Long author text shortened for the picture; the table beside it has it whole."""
    return text if len(text) <= length else text[: length - 1] + "…"
