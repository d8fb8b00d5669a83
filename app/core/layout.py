"""Automatic canvas positions for graphs that arrive without any (API, import).

Left to right in columns by distance from the start step; within a column, children
keep their parent's order and port order, so a branch's `true` path sits above `false`.
"""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Sequence

from app.core.graph import ConnectionLike

COLUMN_WIDTH = 300
ROW_HEIGHT = 170
MARGIN = 60


def auto_layout(
    step_ids: Sequence[str],
    connections: Sequence[ConnectionLike],
    port_order: dict[str, list[str | None]],
) -> dict[str, tuple[int, int]]:
    """Positions (x, y) for every step; `port_order` gives each step's output labels in order."""
    if not step_ids:
        return {}
    columns = _columns(step_ids, connections, port_order)
    return {
        step_id: (MARGIN + column * COLUMN_WIDTH, MARGIN + row * ROW_HEIGHT)
        for column, ids in enumerate(columns)
        for row, step_id in enumerate(ids)
    }


def _columns(
    step_ids: Sequence[str],
    connections: Sequence[ConnectionLike],
    port_order: dict[str, list[str | None]],
) -> list[list[str]]:
    known = set(step_ids)
    children: dict[str, list[str]] = defaultdict(list)
    ports = sorted(
        (c for c in connections if c.source in known and c.target in known),
        key=lambda c: _port_index(port_order.get(c.source, []), c.label),
    )
    for conn in ports:
        children[conn.source].append(conn.target)
    targets = {c.target for c in ports if c.source != c.target}
    roots = [s for s in step_ids if s not in targets] or [step_ids[0]]
    depth: dict[str, int] = {}
    order: list[str] = []
    queue = deque((root, 0) for root in roots)
    while queue:
        step_id, level = queue.popleft()
        if step_id in depth:
            continue
        depth[step_id] = level
        order.append(step_id)
        queue.extend((child, level + 1) for child in children[step_id] if child not in depth)
    leftover = [s for s in step_ids if s not in depth]  # only reachable through a loop
    last = max(depth.values(), default=-1) + 1
    for step_id in leftover:
        depth[step_id] = last
        order.append(step_id)
    columns: list[list[str]] = [[] for _ in range(max(depth.values()) + 1)]
    for step_id in order:
        columns[depth[step_id]].append(step_id)
    return columns


def _port_index(ports: list[str | None], label: str | None) -> int:
    return ports.index(label) if label in ports else len(ports)
