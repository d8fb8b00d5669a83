"""The action step's panel: add or remove a tag, update a field, move to another sequence,
or exit."""

from __future__ import annotations

from typing import Any

from app.models import Sequence
from app.services import panel_choices
from app.web.form_toolkit import FormReader, text_of, value_from_text, value_to_text
from app.web.steps.base import StepForm


def _to_form(config: dict[str, Any]) -> list[tuple[str, str]]:
    pairs = [(key, text_of(config.get(key))) for key in ("action", "tag", "field", "sequence")]
    return [*pairs, ("value", value_to_text(config.get("value")))]


def _from_form(read: FormReader) -> dict[str, Any]:
    action = read.text("action")
    if action in ("add_tag", "remove_tag"):
        return {"action": action, "tag": read.text("tag")}
    if action == "update_field":
        value = value_from_text(read.form.get("value"))
        return {"action": action, "field": read.text("field"), "value": value}
    if action == "move_to_sequence":
        return {"action": action, "sequence": read.text("sequence")}
    return {"action": action}


def _choices(sequence: Sequence) -> dict[str, Any]:
    names = panel_choices.other_sequence_names(sequence)
    return {
        "custom_fields": panel_choices.custom_fields(sequence.workspace_id),
        "sequences": [(name, name) for name in names],
    }


FORM = StepForm(type="action", to_form=_to_form, from_form=_from_form, choices=_choices)
