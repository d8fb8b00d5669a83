"""What a step type's panel form is: the form <-> config codec and what the panel needs,
declared once in `app/web/steps/<type>.py` beside `templates/builder/steps/<type>.html`."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from werkzeug.datastructures import MultiDict

from app.core.graph import Problem
from app.models import Sequence
from app.web.form_toolkit import FormReader, Row

ToForm = Callable[[dict[str, Any]], list[tuple[str, str]]]
FromForm = Callable[[FormReader], dict[str, Any]]
Choices = Callable[[Sequence], dict[str, Any]]
FieldName = Callable[[str, MultiDict[str, str]], str]
Filled = Callable[[MultiDict[str, str]], MultiDict[str, str]]
SaveProblems = Callable[[str, dict[str, Any]], list[Problem]]
Op = Callable[[MultiDict[str, str]], MultiDict[str, str]]


def no_choices(sequence: Sequence) -> dict[str, Any]:
    """The usual panel: its fields offer nothing looked up from the workspace."""
    return {}


def same_field_name(path: str, values: MultiDict[str, str]) -> str:
    """The usual naming: a problem at `paths.0.label` belongs to the field `paths.0.label`."""
    return path


def unchanged(values: MultiDict[str, str]) -> MultiDict[str, str]:
    return values


def no_save_problems(step_key: str, config: dict[str, Any]) -> list[Problem]:
    return []


def waits_for_edits(op: str) -> bool:
    """The usual rows: a row just added is empty, so it is saved once its boxes are filled."""
    return False


@dataclass(frozen=True)
class StepForm:
    """One step type's settings form.

    `to_form(config)` gives the flat (name, text) pairs showing a stored config (it must
    tolerate an unfinished draft); `from_form(reader)` builds the config back, adding
    errors the config models cannot name. `choices(sequence)` gives the template's lookups
    (only the ones this form uses run). `field_name(path, values)` maps a problem's config
    path to the field that shows it. `rows` and `groups` give the fields of a row added by
    `add:<target>` and `group:<target>` (keyed by the target's last name); `filled` gives
    starting values to fields a choice just switched on; `save_problems(step_key, config)`
    checks what the config models cannot see before saving. `ops` are the form's own
    `_op` buttons (by value) beside the row operations, and `saves_op(op)` says which
    operations change the settings by themselves (a block moved), so the panel saves
    their result at once.
    """

    type: str
    to_form: ToForm
    from_form: FromForm
    choices: Choices = no_choices
    field_name: FieldName = same_field_name
    rows: Mapping[str, Row] = field(default_factory=dict)
    groups: Mapping[str, Row] = field(default_factory=dict)
    filled: Filled = unchanged
    save_problems: SaveProblems = no_save_problems
    ops: Mapping[str, Op] = field(default_factory=dict)
    saves_op: Callable[[str], bool] = waits_for_edits


def email_step_choices(sequence: Sequence) -> list[tuple[str, str]]:
    """(step id, label) of the sequence's email steps, for conditions on email activity."""
    return [
        (step.key, f"{step.name} ({step.key})" if step.name else step.key)
        for step in sequence.steps
        if step.type == "email"
    ]
