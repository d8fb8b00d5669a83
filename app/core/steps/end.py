"""End: the enrollment completes here."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal

from app.core.format.values import Model
from app.core.steps.base import StepKind, fixed_outputs
from app.core.steps.runtime import Context, Verdict

if TYPE_CHECKING:
    from app.core.engine import Step


class EndConfig(Model):
    type: Literal["end"] | None = None


def _summary(config: Mapping[str, Any]) -> str:
    return "The sequence ends here"


def _run(step: Step, ctx: Context) -> Verdict:
    return Verdict.end("completed", "completed")


KIND = StepKind(
    type="end",
    label="End",
    hint="Finish the sequence",
    colour="#57606a",
    order=80,
    summary=_summary,
    run=_run,
    config_model=EndConfig,
    outputs=fixed_outputs(),
)
