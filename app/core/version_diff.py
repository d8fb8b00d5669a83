"""What changed between two definitions (format v1 documents) of one sequence.

Steps are matched by their id: the same id in both is the same step, whatever its name.
A changed step lists the paths of what changed ("config.subject", "name", "next"); layout
(positions) is not a change. Pure: used by the publish plan, the diff page and the API.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

MAX_DEPTH = 4
"""How deep config paths are compared before a whole sub-value is reported as changed."""

MAX_PATHS = 50
"""Changed paths listed per step; a bound on what a pathological config can produce."""

SEQUENCE_KEYS = ("name", "description", "trigger", "exit", "goals", "re_enrollment", "settings")

StepStatus = Literal["added", "removed", "changed"]


@dataclass(frozen=True)
class StepDiff:
    step: str
    name: str | None
    type: str
    status: StepStatus
    fields: tuple[str, ...] = ()


@dataclass(frozen=True)
class VersionDiff:
    steps: tuple[StepDiff, ...]
    connections_added: tuple[tuple[str, str, str | None], ...]
    connections_removed: tuple[tuple[str, str, str | None], ...]
    sequence_fields: tuple[str, ...]

    def keys(self, status: StepStatus) -> set[str]:
        return {d.step for d in self.steps if d.status == status}

    @property
    def empty(self) -> bool:
        return not (
            self.steps or self.connections_added or self.connections_removed or self.sequence_fields
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "steps": [
                {
                    "id": d.step,
                    "name": d.name,
                    "type": d.type,
                    "status": d.status,
                    "fields": list(d.fields),
                }
                for d in self.steps
            ],
            "connections": {
                "added": [_edge_dict(e) for e in self.connections_added],
                "removed": [_edge_dict(e) for e in self.connections_removed],
            },
            "sequence": list(self.sequence_fields),
        }


def diff_definitions(old: Mapping[str, Any], new: Mapping[str, Any]) -> VersionDiff:
    old_steps = {s["id"]: s for s in old.get("steps", [])}
    new_steps = {s["id"]: s for s in new.get("steps", [])}
    old_next, new_next = _next_of(old), _next_of(new)
    steps: list[StepDiff] = []
    for key, spec in new_steps.items():
        before = old_steps.get(key)
        if before is None:
            steps.append(StepDiff(key, spec.get("name"), spec["type"], "added"))
            continue
        fields = _step_fields(before, spec)
        if old_next.get(key, set()) != new_next.get(key, set()):
            fields.append("next")
        if fields:
            steps.append(StepDiff(key, spec.get("name"), spec["type"], "changed", tuple(fields)))
    for key, spec in old_steps.items():
        if key not in new_steps:
            steps.append(StepDiff(key, spec.get("name"), spec["type"], "removed"))
    old_edges, new_edges = _edges(old), _edges(new)
    return VersionDiff(
        tuple(steps),
        tuple(e for e in new_edges if e not in old_edges),
        tuple(e for e in old_edges if e not in new_edges),
        tuple(_changed_paths(_sequence_part(old), _sequence_part(new), "", 2)),
    )


def _step_fields(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[str]:
    fields = []
    if before.get("type") != after.get("type"):
        fields.append("type")
    if before.get("name") != after.get("name"):
        fields.append("name")
    old_config, new_config = before.get("config") or {}, after.get("config") or {}
    changed = _changed_paths(old_config, new_config, "config", 0)
    if isinstance(old_config.get("blocks"), list) and isinstance(new_config.get("blocks"), list):
        # the body is made from the blocks: the blocks' paths say what changed
        changed = [path for path in changed if path != "config.body"]
    return (fields + changed)[:MAX_PATHS]


def _changed_paths(old: Any, new: Any, prefix: str, depth: int) -> list[str]:
    """Dotted paths where two JSON values differ; below MAX_DEPTH a sub-value is one path.
    Lists of the same length are compared item by item (`config.blocks[2].url`); a list
    that grew or shrank is one path."""
    if old == new:
        return []
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        if depth >= MAX_DEPTH:
            return [prefix]
        paths: list[str] = []
        for index, (was, now) in enumerate(zip(old[:MAX_PATHS], new[:MAX_PATHS], strict=True)):
            paths += _changed_paths(was, now, f"{prefix}[{index}]", depth + 1)
        return paths[:MAX_PATHS] or [prefix]
    if not (isinstance(old, dict) and isinstance(new, dict)) or depth >= MAX_DEPTH:
        return [prefix or "(all)"]
    paths: list[str] = []
    for key in sorted(set(old) | set(new), key=str)[:MAX_PATHS]:
        path = f"{prefix}.{key}" if prefix else str(key)
        paths += _changed_paths(old.get(key), new.get(key), path, depth + 1)
    return paths[:MAX_PATHS]


def _sequence_part(definition: Mapping[str, Any]) -> dict[str, Any]:
    return {key: definition.get(key) or None for key in SEQUENCE_KEYS}


def _edges(definition: Mapping[str, Any]) -> list[tuple[str, str, str | None]]:
    return [(c["source"], c["target"], c.get("label")) for c in definition.get("connections", [])]


def _next_of(definition: Mapping[str, Any]) -> dict[str, set[tuple[str, str | None]]]:
    out: dict[str, set[tuple[str, str | None]]] = {}
    for source, target, label in _edges(definition):
        out.setdefault(source, set()).add((target, label))
    return out


def _edge_dict(edge: tuple[str, str, str | None]) -> dict[str, Any]:
    return {"source": edge[0], "target": edge[1], "label": edge[2]}
