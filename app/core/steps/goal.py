"""Goal: record a conversion checkpoint; an exit goal of the sequence ends it there."""

from collections.abc import Mapping
from typing import Any

from app.core.steps.base import StepKind


def _summary(config: Mapping[str, Any]) -> str:
    return f"Goal: {config['goal']}" if config.get("goal") else "Choose a goal"


KIND = StepKind(
    type="goal",
    label="Goal",
    hint="Record a conversion checkpoint",
    colour="#0e8a8a",
    order=70,
    summary=_summary,
)
