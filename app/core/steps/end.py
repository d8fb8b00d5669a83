"""End: the enrollment completes here."""

from collections.abc import Mapping
from typing import Any

from app.core.steps.base import StepKind, fixed_outputs


def _summary(config: Mapping[str, Any]) -> str:
    return "The sequence ends here"


KIND = StepKind(
    type="end",
    label="End",
    hint="Finish the sequence",
    colour="#57606a",
    order=80,
    summary=_summary,
    outputs=fixed_outputs(),
)
