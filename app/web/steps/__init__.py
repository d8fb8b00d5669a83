"""The builder's step panels: one form module per step type, found by looking in this package.

Each module defines `FORM = StepForm(...)` (see `base.StepForm`) for the step type of the
same name in `app.core.steps`, and `templates/builder/steps/<type>.html` renders its fields.
Adding a step type's panel is adding that module and that template, never editing a list.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from werkzeug.datastructures import MultiDict

from app.core.format.parse import step_config_problems
from app.core.registry import discover
from app.web.form_toolkit import FormData, FormReader, apply_op, compact, place_problems
from app.web.steps.base import StepForm

MAX_NAME_LENGTH = 255


def _discover() -> dict[str, StepForm]:
    return {form.type: form for form in discover(__name__, __path__, "FORM", StepForm)}


FORMS: Mapping[str, StepForm] = _discover()
"""Every step type's panel form by type."""


def form_of(step_type: str) -> StepForm:
    """The panel form of `step_type`; a type without one is a missing module, said so."""
    try:
        return FORMS[step_type]
    except KeyError:
        message = f"step type {step_type!r} has no panel form: add app/web/steps/{step_type}.py"
        raise LookupError(message) from None


def form_from_config(step_type: str, config: dict[str, Any], name: str | None = None) -> FormData:
    """The form showing a stored step; unfinished configs show what they have."""
    pairs = [("name", name or ""), *form_of(step_type).to_form(dict(config or {}))]
    return FormData(MultiDict(pairs))


def config_from_form(
    step_type: str, values: MultiDict[str, str]
) -> tuple[dict[str, Any] | None, FormData]:
    """The config the form describes, or None and the form with a message per bad field."""
    read = FormReader(compact(values))
    config = form_of(step_type).from_form(read)
    name = read.text("name")
    if len(name) > MAX_NAME_LENGTH:
        read.form.add_error("name", f"at most {MAX_NAME_LENGTH} characters, got {len(name)}")
    problems = step_config_problems(step_type, config)
    place_problems(read.form, problems, _field_namer(step_type, read.form))
    return (None if read.form.errors else config), read.form


def save_problems_placed(
    step_type: str, step_key: str, config: dict[str, Any], form: FormData
) -> bool:
    """Put the problems only a save checks (such as an email over its rendering budget) on
    the form; True when there were any, so nothing may be saved."""
    problems = form_of(step_type).save_problems(step_key, config)
    place_problems(form, problems, _field_namer(step_type, form))
    return bool(problems)


def _field_namer(step_type: str, form: FormData) -> Callable[[str], str]:
    """Problems say `config.paths.0.label`; the type's form names the field showing it."""

    def field_name(path: str) -> str:
        return form_of(step_type).field_name(path.removeprefix("config").lstrip("."), form.values)

    return field_name


def apply_step_op(step_type: str, values: MultiDict[str, str], op: str) -> MultiDict[str, str]:
    """The step's form after an `_op` button (add, group, move or remove a row; refresh;
    one of the form's own), unsaved."""
    form = form_of(step_type)
    if op in form.ops:
        return form.ops[op](values)
    return form.filled(apply_op(values, op, form.rows, form.groups))


def step_name(values: MultiDict[str, str]) -> str | None:
    return values.get("name", "").strip() or None
