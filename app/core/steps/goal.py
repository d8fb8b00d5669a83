"""Goal: record a conversion checkpoint; an exit goal of the sequence ends it there."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal

from app.core.format.values import Model, NonBlank
from app.core.steps.base import StepKind
from app.core.steps.runtime import Context, Verdict

if TYPE_CHECKING:
    from app.core.engine import Step


class GoalConfig(Model):
    type: Literal["goal"] | None = None
    goal: NonBlank


def _summary(config: Mapping[str, Any]) -> str:
    return f"Goal: {config['goal']}" if config.get("goal") else "Choose a goal"


def _run(step: Step, ctx: Context) -> Verdict:
    """Record the conversion; an exit goal of the sequence ends the enrollment here."""
    goal = step.parsed.goal
    if goal in ctx.exit_goals:
        return Verdict.end("reached", "exited", f"goal '{goal}' reached", goal=goal)
    return Verdict.go("reached", goal=goal)


KIND = StepKind(
    type="goal",
    label="Goal",
    hint="Record a conversion checkpoint",
    colour="#0e8a8a",
    order=70,
    summary=_summary,
    run=_run,
    config_model=GoalConfig,
)
