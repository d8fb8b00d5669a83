"""Renaming a segment inside stored definitions: pure data, no database.

The sequence format names segments by name (`trigger.segment`, a `segment` condition's
`segment`): that key is the contract every export, import and gallery template relies on.
So a rename rewrites the name wherever a definition holds it, rather than adding a second
key the engine would have to prefer.
"""

from __future__ import annotations

from typing import Any

_NAMING = {"segment_join", "segment"}
"""Node types whose `segment` key names a segment: a trigger and a condition."""


def renamed(data: Any, old: str, new: str) -> tuple[Any, bool]:
    """`data` with every segment trigger and segment condition naming `old` naming `new`
    instead (a copy; the input is untouched), and whether anything changed."""
    if isinstance(data, dict):
        changed = False
        out: dict[str, Any] = {}
        for key, value in data.items():
            out[key], hit = renamed(value, old, new)
            changed = changed or hit
        if out.get("type") in _NAMING and out.get("segment") == old:
            out["segment"] = new
            changed = True
        return out, changed
    if isinstance(data, list):
        pairs = [renamed(item, old, new) for item in data]
        return [item for item, _ in pairs], any(hit for _, hit in pairs)
    return data, False
