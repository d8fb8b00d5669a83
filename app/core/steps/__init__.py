"""The step-kind registry: one module per step type, found by looking in this package.

Adding a step type is adding a module here that defines `KIND` (see `base.StepKind`);
everything that lists, draws, checks or runs steps reads it from `KINDS`. `base` (what a
kind declares) and `runtime` (what its `run` receives and returns) are not kinds.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from app.core.registry import discover
from app.core.steps.base import StepKind


def _discover() -> dict[str, StepKind]:
    found = discover(__name__, __path__, "KIND", StepKind)
    return {kind.type: kind for kind in sorted(found, key=lambda kind: (kind.order, kind.type))}


KINDS: Mapping[str, StepKind] = _discover()
"""Every step kind by type, in palette order."""
STEP_TYPES: tuple[str, ...] = tuple(KINDS)
WAITING_STEP_TYPES: frozenset[str] = frozenset(t for t, kind in KINDS.items() if kind.waits)


def kind_of(step_type: str) -> StepKind | None:
    """The kind registered for `step_type`, or None for a type this app does not know."""
    return KINDS.get(step_type)


def step_outputs(step_type: str, config: Mapping[str, Any]) -> list[str | None]:
    """The step's output ports in canvas order; an unknown type gets one next step."""
    kind = KINDS.get(step_type)
    return kind.outputs(config) if kind else [None]
