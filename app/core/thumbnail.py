"""A small SVG picture of a sequence's graph, drawn on the server for the template gallery.

The gallery shows many sequences at once, so no canvas script runs there: each card gets
boxes coloured like the builder's step types, the connections between them and the labels
of branch, wait and split paths, scaled to one fixed frame. All author text is escaped.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from html import escape
from itertools import pairwise
from typing import Any

from app.core.draft import DraftConnection
from app.core.format.document import SequenceDefinition
from app.core.format.parse import definition_to_dict
from app.core.layout import layout_grid
from app.core.steps import kind_of, step_outputs

WIDTH, HEIGHT = 320, 180
"""The thumbnail's viewBox; the page sizes it with CSS."""
PADDING = 10
NODE_WIDTH, NODE_HEIGHT = 220, 90
"""A canvas node's size in canvas units (builder.css)."""
MAX_SCALE = 0.45
"""A one-step sequence is not blown up to fill the whole card."""
MAX_COLUMNS = 4
"""A longer chain is folded into rows (left to right, then back), so its boxes stay legible."""
ROW_GAP = 70
AUTO_STEP_X, AUTO_STEP_Y = 300, 170
"""The builder's automatic layout turned on its side (its rows become columns here): a
thumbnail is wider than tall, while the canvas reads top to bottom."""

_UNKNOWN_COLOUR = "#98a2b3"
_EDGE_COLOUR = "#98a2b3"


@dataclass(frozen=True)
class _Frame:
    """Maps canvas coordinates into the viewBox: one uniform scale, centred."""

    scale: float
    dx: float
    dy: float

    def x(self, value: float) -> float:
        return round(self.dx + value * self.scale, 1)

    def y(self, value: float) -> float:
        return round(self.dy + value * self.scale, 1)


def as_document(definition: SequenceDefinition | Mapping[str, Any]) -> Mapping[str, Any]:
    """A parsed definition or its dict, as the dict (the shape exports and templates use)."""
    if isinstance(definition, SequenceDefinition):
        return definition_to_dict(definition)
    return definition


def step_positions(document: Mapping[str, Any]) -> dict[str, tuple[int, int]]:
    """Where each box goes: the automatic layout, whatever the author dragged on the canvas,
    so every card in the gallery draws its flow the same compact way."""
    steps = list(document.get("steps") or [])
    grid = layout_grid(
        [step["id"] for step in steps],
        links(document),
        {step["id"]: step_outputs(step["type"], step.get("config") or {}) for step in steps},
    )
    return {
        key: (row * AUTO_STEP_X, round(column * AUTO_STEP_Y)) for key, (row, column) in grid.items()
    }


def links(document: Mapping[str, Any]) -> list[DraftConnection]:
    """The connections between steps the document has (a draft may hold dangling ones)."""
    ids = {step["id"] for step in document.get("steps") or []}
    return [
        DraftConnection(conn["source"], conn["target"], conn.get("label"))
        for conn in document.get("connections") or []
        if conn["source"] in ids and conn["target"] in ids
    ]


def render_thumbnail(definition: SequenceDefinition | Mapping[str, Any]) -> str:
    """The graph as a standalone SVG: one <rect> per step, one edge <path> per connection."""
    document = as_document(definition)
    steps = list(document.get("steps") or [])
    positions = _folded(step_positions(document))
    frame = _frame(positions.values())
    label = f"Flow of {document.get('name') or 'a sequence'}"
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="thumb" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'role="img" aria-label="{escape(label)}">',
        f"<title>{escape(label)}</title>",
    ]
    known = links(document)
    parts += [_edge(edge, positions, frame) for edge in known]
    parts += [_box(step, positions[step["id"]], frame) for step in steps]
    parts += [_edge_label(edge, positions, frame) for edge in known if edge.label]
    parts.append("</svg>")
    return "".join(parts)


def _folded(positions: dict[str, tuple[int, int]]) -> dict[str, tuple[int, int]]:
    """Columns beyond MAX_COLUMNS continue on the next row, in alternating direction."""
    columns = sorted({x for x, _ in positions.values()})
    if len(columns) <= MAX_COLUMNS:
        return positions
    rows = -(-len(columns) // MAX_COLUMNS)
    per_row = -(-len(columns) // rows)
    step = min(b - a for a, b in pairwise(columns))
    top = min(y for _, y in positions.values())
    row_height = max(y for _, y in positions.values()) - top + NODE_HEIGHT + ROW_GAP
    folded = {}
    for key, (x, y) in positions.items():
        row, column = divmod(columns.index(x), per_row)
        if row % 2:
            column = per_row - 1 - column
        folded[key] = (columns[0] + column * step, y + row * row_height)
    return folded


def _frame(positions: Any) -> _Frame:
    points = list(positions)
    if not points:
        return _Frame(1.0, 0.0, 0.0)
    left = min(x for x, _ in points)
    top = min(y for _, y in points)
    span_x = max(x for x, _ in points) - left + NODE_WIDTH
    span_y = max(y for _, y in points) - top + NODE_HEIGHT
    scale = min((WIDTH - 2 * PADDING) / span_x, (HEIGHT - 2 * PADDING) / span_y, MAX_SCALE)
    return _Frame(
        scale,
        (WIDTH - span_x * scale) / 2 - left * scale,
        (HEIGHT - span_y * scale) / 2 - top * scale,
    )


def _box(step: Mapping[str, Any], position: tuple[int, int], frame: _Frame) -> str:
    x, y = position
    kind = kind_of(step["type"])
    colour = kind.colour if kind else _UNKNOWN_COLOUR
    title = escape(f"{step.get('name') or step['id']} ({step['type'].replace('_', ' ')})")
    width, height = round(NODE_WIDTH * frame.scale, 1), round(NODE_HEIGHT * frame.scale, 1)
    return (
        f'<g class="thumb-step thumb-{escape(step["type"])}"><title>{title}</title>'
        f'<rect x="{frame.x(x)}" y="{frame.y(y)}" width="{width}" height="{height}" '
        f'rx="{round(8 * frame.scale, 1)}" fill="{colour}" fill-opacity="0.14" stroke="{colour}" '
        f'stroke-width="{max(1.0, round(5 * frame.scale, 1))}"/></g>'
    )


def _ends(
    edge: DraftConnection, positions: Mapping[str, tuple[int, int]]
) -> tuple[float, float, float, float]:
    """From the side of the source that faces the target to the target's facing side, in
    canvas units: right to left, left to right on a folded row, bottom to top between rows."""
    sx, sy = positions[edge.source]
    tx, ty = positions[edge.target]
    if tx > sx:
        return sx + NODE_WIDTH, sy + NODE_HEIGHT / 2, tx, ty + NODE_HEIGHT / 2
    if tx < sx:
        return sx, sy + NODE_HEIGHT / 2, tx + NODE_WIDTH, ty + NODE_HEIGHT / 2
    return sx + NODE_WIDTH / 2, sy + NODE_HEIGHT, tx + NODE_WIDTH / 2, ty


def _edge(edge: DraftConnection, positions: Mapping[str, tuple[int, int]], frame: _Frame) -> str:
    sx, sy, tx, ty = _ends(edge, positions)
    x1, y1, x2, y2 = frame.x(sx), frame.y(sy), frame.x(tx), frame.y(ty)
    if x1 == x2:  # straight down to the next row
        curve = f"M{x1} {y1} L{x2} {y2}"
    else:
        bend = max(abs(x2 - x1) / 2, 12.0) * (1 if x2 > x1 else -1)
        curve = f"M{x1} {y1} C{x1 + bend} {y1} {x2 - bend} {y2} {x2} {y2}"
    return (
        f'<path class="thumb-edge" d="{curve}" '
        f'fill="none" stroke="{_EDGE_COLOUR}" stroke-width="1.2"/>'
    )


def _edge_label(
    edge: DraftConnection, positions: Mapping[str, tuple[int, int]], frame: _Frame
) -> str:
    x1, y1, x2, y2 = _ends(edge, positions)
    x, y = frame.x((x1 + x2) / 2), frame.y((y1 + y2) / 2)
    size = max(6.0, min(10.0, round(40 * frame.scale, 1)))
    return (
        f'<text class="thumb-label" x="{x}" y="{y}" font-size="{size}" text-anchor="middle" '
        f'dominant-baseline="middle" font-family="system-ui, sans-serif" fill="#344054" '
        f'stroke="#fff" stroke-width="2.5" '
        f'paint-order="stroke">{escape(str(edge.label))}</text>'
    )
