"""The wait-until step's panel: rows of conditions (a custom event, a field change or email
activity), each with its own timeout."""

from __future__ import annotations

import re
from typing import Any

from werkzeug.datastructures import MultiDict

from app.core.definition import EMAIL_EVENTS
from app.models import Sequence
from app.services import panel_choices
from app.web.form_toolkit import (
    PROPERTY_ROW,
    FormReader,
    dicts,
    drop_none,
    properties_to_form,
    text_of,
)
from app.web.steps.base import StepForm, email_step_choices


def _to_form(config: dict[str, Any]) -> list[tuple[str, str]]:
    conditions = dicts(config.get("conditions")) or [{}]
    pairs: list[tuple[str, str]] = []
    for index, condition in enumerate(conditions):
        row = f"conditions.{index}"
        event = text_of(condition.get("event"))
        if "field" in condition:
            pairs += [(f"{row}.kind", "field"), (f"{row}.field", text_of(condition["field"]))]
        elif event in EMAIL_EVENTS:
            pairs += [(f"{row}.kind", "email"), (f"{row}.email_event", event)]
            pairs += [(f"{row}.email_step_id", text_of(condition.get("email_step_id")))]
            pairs += [(f"{row}.link_url_contains", text_of(condition.get("link_url_contains")))]
        else:
            pairs += [(f"{row}.kind", "event"), (f"{row}.event", event)]
            pairs += properties_to_form(row, condition.get("properties"))
            pairs += properties_to_form(row, condition.get("match"), "match")
        pairs.append((f"{row}.timeout", text_of(condition.get("timeout"))))
    return pairs


def _from_form(read: FormReader) -> dict[str, Any]:
    conditions = []
    for index in read.rows("conditions"):
        row = f"conditions.{index}"
        kind, timeout = read.text(f"{row}.kind"), read.text(f"{row}.timeout")
        if kind == "field":
            conditions.append({"field": read.text(f"{row}.field"), "timeout": timeout})
        elif kind == "email":
            event = read.text(f"{row}.email_event")
            link = read.optional(f"{row}.link_url_contains") if event == "clicked_link" else None
            condition = {"event": event, "email_step_id": read.optional(f"{row}.email_step_id")}
            condition |= {"link_url_contains": link, "timeout": timeout}
            conditions.append(drop_none(condition))
        else:
            event = read.text(f"{row}.event")
            if event in EMAIL_EVENTS:
                read.form.add_error(f"{row}.event", f"{event!r} is an email event; choose Email")
            condition = {"event": event, "timeout": timeout}
            condition |= {
                "properties": read.properties(row),
                "match": read.properties(row, "match"),
            }
            conditions.append(drop_none(condition))
    if not conditions:
        read.form.add_error("conditions", "add at least one condition to wait for")
    return {"conditions": conditions}


def _field_name(path: str, values: MultiDict[str, str]) -> str:
    match = re.fullmatch(r"conditions\.(\d+)(?:\.(\w+))?.*", path)
    if match is None:
        return path
    row, key = f"conditions.{match[1]}", match[2]
    if key is None:
        return f"{row}.kind"
    is_email = values.get(f"{row}.kind") == "email"
    if key == "event" and is_email:
        return f"{row}.email_event"
    if key in ("email_step_id", "link_url_contains") and not is_email:
        return f"{row}.event"  # a custom event named like an email event: said there already
    return f"{row}.props" if key == "properties" else f"{row}.{key}"


def _choices(sequence: Sequence) -> dict[str, Any]:
    return {
        "email_steps": email_step_choices(sequence),
        "custom_fields": panel_choices.custom_fields(sequence.workspace_id),
    }


FORM = StepForm(
    type="wait_until",
    to_form=_to_form,
    from_form=_from_form,
    choices=_choices,
    field_name=_field_name,
    rows={
        "conditions": (("kind", "event"), ("event", ""), ("timeout", "")),
        "props": PROPERTY_ROW,
        "match": PROPERTY_ROW,
    },
)
