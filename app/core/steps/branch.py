"""Branch: take the true or the false path by a condition on the contact."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal

from app.core import conditions
from app.core.format.conditions import Condition
from app.core.format.values import Model, NonBlank
from app.core.steps.base import LegacyPath, StepKind, fixed_outputs
from app.core.steps.runtime import Context, Verdict

if TYPE_CHECKING:
    from app.core.engine import Step


class BranchConfig(Model):
    type: Literal["branch"] | None = None
    condition: Condition
    true_path_next: NonBlank | None = None
    false_path_next: NonBlank | None = None


def _legacy_paths(config: BranchConfig) -> list[LegacyPath]:
    """The seed's inline `true_path_next` / `false_path_next` are the two paths."""
    found = [
        ("true_path_next", "true", config.true_path_next),
        ("false_path_next", "false", config.false_path_next),
    ]
    config.true_path_next = config.false_path_next = None
    return found


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


def _run(step: Step, ctx: Context) -> Verdict:
    """The true or false path, by the condition on the contact as this pass has left it,
    with the values it saw (the step log's decision)."""
    explained = conditions.explain(step.config["condition"], ctx.facts(), ctx.now)
    label = "true" if explained.holds else "false"
    return Verdict.go(label, label, decision=explained.to_json())


def _reads(config: BranchConfig) -> conditions.Needs:
    return conditions.needs(config.model_dump(mode="json", by_alias=True)["condition"])


KIND = StepKind(
    type="branch",
    label="Branch",
    hint="Split by a yes/no condition",
    colour="#d4a72c",
    order=40,
    summary=_summary,
    run=_run,
    reads=_reads,
    config_model=BranchConfig,
    outputs=fixed_outputs("true", "false"),
    legacy_paths=_legacy_paths,
)
