"""Action: change the contact (tag, field), move them to another sequence, or exit."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import Discriminator

from app.core.format.values import BoundedJson, Model, NonBlank
from app.core.steps.base import StepKind
from app.core.steps.runtime import Context, Effect, Verdict

if TYPE_CHECKING:
    from app.core.engine import Step

TERMINAL_ACTIONS = frozenset({"exit", "move_to_sequence"})
"""Actions after which the contact is no longer in this sequence, so nothing can follow."""


class _ActionConfig(Model):
    type: Literal["action"] | None = None


class AddTagAction(_ActionConfig):
    action: Literal["add_tag"]
    tag: NonBlank


class RemoveTagAction(_ActionConfig):
    action: Literal["remove_tag"]
    tag: NonBlank


class UpdateFieldAction(_ActionConfig):
    """`value` is required; null is a real value that clears the field."""

    action: Literal["update_field"]
    field: NonBlank
    value: BoundedJson


class MoveToSequenceAction(_ActionConfig):
    action: Literal["move_to_sequence"]
    sequence: NonBlank


class ExitAction(_ActionConfig):
    action: Literal["exit"]


ActionConfig = Annotated[
    AddTagAction | RemoveTagAction | UpdateFieldAction | MoveToSequenceAction | ExitAction,
    Discriminator("action"),
]


def _outputs(config: Mapping[str, Any]) -> list[str | None]:
    return [] if config.get("action") in TERMINAL_ACTIONS else [None]


def _summary(config: Mapping[str, Any]) -> str:
    action = config.get("action")
    if action in ("add_tag", "remove_tag"):
        verb = "Add tag" if action == "add_tag" else "Remove tag"
        return f"{verb} {config.get('tag') or '…'}"
    if action == "update_field":
        return f"Set {config['field']} = {config.get('value')}"
    if action == "move_to_sequence":
        return f"Move to {config['sequence']}"
    if action == "exit":
        return "Exit the sequence"
    return "Choose an action"


def _run(step: Step, ctx: Context) -> Verdict:
    """Exit, or ask for the change (applied to this pass's view of the contact and written
    by the processor); a move ends the enrollment and asks for the new one."""
    config = step.parsed
    if config.action == "exit":
        return Verdict.end("exited", "exited", f"exit step '{step.key}'")
    if config.action == "move_to_sequence":
        effect = Effect(config.action, step.id, sequence=config.sequence)
        reason = f"moved to sequence '{config.sequence}'"
        return Verdict.end("applied", "exited", reason, effect=effect)
    if config.action == "update_field":
        effect = Effect(config.action, step.id, field=config.field, value=config.value)
    else:
        effect = Effect(config.action, step.id, tag=config.tag)
    return Verdict.go("applied", effect=effect)


KIND = StepKind(
    type="action",
    label="Action",
    hint="Tag, update a field, move or exit",
    colour="#1a7f37",
    order=60,
    summary=_summary,
    run=_run,
    config_model=ActionConfig,
    default_config={"action": "add_tag"},
    outputs=_outputs,
)
