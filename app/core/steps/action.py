"""Action: change the contact (tag, field), move them to another sequence, or exit."""

from collections.abc import Mapping
from typing import Any

from app.core.steps.base import StepKind

TERMINAL_ACTIONS = frozenset({"exit", "move_to_sequence"})
"""Actions after which the contact is no longer in this sequence, so nothing can follow."""


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


KIND = StepKind(
    type="action",
    label="Action",
    hint="Tag, update a field, move or exit",
    colour="#1a7f37",
    order=60,
    summary=_summary,
    default_config={"action": "add_tag"},
    outputs=_outputs,
)
