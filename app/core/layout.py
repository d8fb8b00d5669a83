"""Where Tidy up (and graphs that arrive without positions) put each step.

Top to bottom, as the cards' anchors run (the input on top, the outputs below): a step's
row is the longest path to it from the start, so every connection runs downwards (a loop
back is the only exception) and a later step is never above an earlier one. A step's
paths sit side by side under it in port order (`true` left of `false`); a chain stays in
one column; steps nothing leads to start their own columns to the right.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from app.core.graph import ConnectionLike

COLUMN_WIDTH = 280
"""A card is 220 wide (builder.css): 60 between columns leaves room for a path label."""
ROW_HEIGHT = 160
"""A card is 70 to 110 high (a name may take two lines): the rest is the link and its "+"."""
MARGIN = 60

Cell = tuple[int, float]
"""(row, column): the column is fractional where a step is centred over its paths."""


def auto_layout(
    step_ids: Sequence[str],
    connections: Sequence[ConnectionLike],
    port_order: dict[str, list[str | None]],
) -> dict[str, tuple[int, int]]:
    """Canvas positions (x, y) for every step; `port_order` gives each step's output labels."""
    return {
        step_id: (round(MARGIN + column * COLUMN_WIDTH), MARGIN + row * ROW_HEIGHT)
        for step_id, (row, column) in layout_grid(step_ids, connections, port_order).items()
    }


def layout_grid(
    step_ids: Sequence[str],
    connections: Sequence[ConnectionLike],
    port_order: dict[str, list[str | None]],
) -> dict[str, Cell]:
    """Every step's (row, column), for pictures that space the grid their own way."""
    if not step_ids:
        return {}
    known = set(step_ids)
    children: dict[str, list[str]] = defaultdict(list)
    edges = sorted(
        (
            c
            for c in connections
            if c.source in known and c.target in known and c.source != c.target
        ),
        key=lambda c: _port_index(port_order.get(c.source, []), c.label),
    )
    for conn in edges:
        children[conn.source].append(conn.target)
    targets = {c.target for c in edges}
    starts = [s for s in step_ids if s not in targets]
    walk = _walk([*starts, *step_ids], children)
    rows = _rows(walk)
    columns = _columns(walk)
    return {step_id: (rows[step_id], columns[step_id]) for step_id in step_ids}


class _Walk:
    """One depth-first walk: its tree (who found whom), its roots, the edges that do not
    close a loop, and the steps in topological order of those edges."""

    def __init__(self) -> None:
        self.roots: list[str] = []
        self.tree: dict[str, list[str]] = defaultdict(list)
        self.forward: dict[str, list[str]] = defaultdict(list)
        self.topological: list[str] = []


def _walk(candidates: list[str], children: dict[str, list[str]]) -> _Walk:
    """Depth first from each candidate not yet reached (iterative: graphs of 500 steps)."""
    walk = _Walk()
    on_path: set[str] = set()
    done: set[str] = set()
    finished: list[str] = []
    for root in candidates:
        if root in done or root in on_path:
            continue
        walk.roots.append(root)
        on_path.add(root)
        stack = [(root, iter(children[root]))]
        while stack:
            step_id, pending = stack[-1]
            child = next(pending, None)
            if child is None:
                stack.pop()
                on_path.discard(step_id)
                done.add(step_id)
                finished.append(step_id)
            elif child in on_path:
                continue  # a loop back up: ignored for rows and columns
            else:
                walk.forward[step_id].append(child)
                if child not in done:
                    walk.tree[step_id].append(child)
                    on_path.add(child)
                    stack.append((child, iter(children[child])))
    walk.topological = finished[::-1]
    return walk


def _rows(walk: _Walk) -> dict[str, int]:
    """The longest path to each step along edges that do not loop back."""
    rows = dict.fromkeys(walk.topological, 0)
    for step_id in walk.topological:
        for child in walk.forward[step_id]:
            rows[child] = max(rows[child], rows[step_id] + 1)
    return rows


def _columns(walk: _Walk) -> dict[str, float]:
    """Leaves of the walk's tree take one column each, left to right; a step is centred
    over its first and last child, so different subtrees never share a column."""
    columns: dict[str, float] = {}
    next_free = 0
    for root in walk.roots:
        stack = [(root, False)]
        while stack:
            step_id, expanded = stack.pop()
            kids = walk.tree[step_id]
            if not kids:
                columns[step_id] = next_free
                next_free += 1
            elif expanded:
                columns[step_id] = (columns[kids[0]] + columns[kids[-1]]) / 2
            else:
                stack.append((step_id, True))
                stack.extend((kid, False) for kid in reversed(kids))
    return columns


def _port_index(ports: list[str | None], label: str | None) -> int:
    return ports.index(label) if label in ports else len(ports)
