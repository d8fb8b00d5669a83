"""Wait until: hold the contact until an event or a field change, or a timeout."""

from collections.abc import Mapping
from typing import Any

from app.core.steps.base import StepKind, fixed_outputs


def _summary(config: Mapping[str, Any]) -> str:
    conditions = config.get("conditions") or []
    if not conditions:
        return "Choose what to wait for"
    names = [str(c.get("event") or c.get("field")) for c in conditions]
    longest = conditions[0].get("timeout")
    return f"Until {' or '.join(names)} (up to {longest})"


KIND = StepKind(
    type="wait_until",
    label="Wait until",
    hint="Wait for an event, with a timeout",
    colour="#bf3989",
    order=30,
    summary=_summary,
    default_config={"conditions": []},
    outputs=fixed_outputs("met", "timeout"),
    waits=True,
)
