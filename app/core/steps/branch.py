"""Branch: take the true or the false path by a condition on the contact."""

from collections.abc import Mapping
from typing import Any

from app.core.steps.base import StepKind, fixed_outputs


def _summary(config: Mapping[str, Any]) -> str:
    condition = config.get("condition")
    return f"If {_condition(condition)}" if condition else "Choose a condition"


def _condition(condition: Mapping[str, Any]) -> str:
    if "all" in condition:
        return " and ".join(_condition(c) for c in condition["all"])
    if "any" in condition:
        return " or ".join(_condition(c) for c in condition["any"])
    if "not" in condition:
        return f"not ({_condition(condition['not'])})"
    kind = condition.get("type")
    if kind == "email_event":
        return f"{condition['event'].replace('_', ' ')} {condition['email_step_id']}"
    if kind == "event":
        return f"did {condition['event']}"
    if kind == "field":
        value = "" if condition.get("op") == "exists" else f" {condition.get('value')}"
        return f"{condition['field']} {condition['op']}{value}"
    if kind == "segment":
        return f"in segment {condition['segment']}"
    if kind == "tag":
        return f"tagged {condition['tag']}"
    return "…"


KIND = StepKind(
    type="branch",
    label="Branch",
    hint="Split by a yes/no condition",
    colour="#d4a72c",
    order=40,
    summary=_summary,
    outputs=fixed_outputs("true", "false"),
)
