"""The branch step's panel: one condition, or all/any/not groups of them nested, as flat
fields under `cond` (`cond.kind`, `cond.items.0.field`...)."""

from __future__ import annotations

from typing import Any

from werkzeug.datastructures import MultiDict

from app.core.events import CLICKED_LINK
from app.models import Sequence
from app.services import panel_choices
from app.web.form_toolkit import (
    PROPERTY_ROW,
    FormReader,
    drop_none,
    properties_to_form,
    text_of,
    value_from_text,
    value_to_text,
)
from app.web.steps.base import StepForm, email_step_choices

MAX_CONDITION_DEPTH = 8
"""Nested condition groups deeper than this are refused: no author needs them."""
GROUP_KINDS = ("all", "any", "not")
_LEAF_KEYS = (
    "email_step_id",
    "event",
    "link_url_contains",
    "lookback_window",
    "field",
    "op",
    "segment",
    "tag",
)


def condition_to_form(condition: Any, prefix: str) -> list[tuple[str, str]]:
    if not isinstance(condition, dict) or not condition:
        return [(f"{prefix}.kind", "email_event")]
    for group in ("all", "any"):
        if group in condition:
            pairs = [(f"{prefix}.kind", group)]
            for index, item in enumerate(condition[group] or []):
                pairs += condition_to_form(item, f"{prefix}.items.{index}")
            return pairs
    if "not" in condition:
        return [
            (f"{prefix}.kind", "not"),
            *condition_to_form(condition["not"], f"{prefix}.items.0"),
        ]
    kind = text_of(condition.get("type"))
    pairs = [(f"{prefix}.kind", kind)]
    leaves = [key for key in _LEAF_KEYS if key in condition]
    pairs += [(f"{prefix}.{key}", text_of(condition[key])) for key in leaves]
    if kind == "field":
        pairs.append((f"{prefix}.value", value_to_text(condition.get("value"))))
    return pairs + properties_to_form(prefix, condition.get("properties"))


def condition_from_form(read: FormReader, prefix: str, depth: int = 0) -> dict[str, Any]:
    kind = read.text(f"{prefix}.kind")
    if kind in GROUP_KINDS:
        if depth >= MAX_CONDITION_DEPTH:
            read.form.add_error(f"{prefix}.kind", "conditions are nested too deeply")
            return {kind: []}
        items = [
            condition_from_form(read, f"{prefix}.items.{index}", depth + 1)
            for index in read.rows(f"{prefix}.items")
        ]
        if not items:
            read.form.add_error(f"{prefix}.items", "add at least one condition to this group")
        if kind != "not":
            return {kind: items}
        if len(items) != 1:
            message = "'Not' takes exactly one condition; put an 'Any of' group inside it"
            read.form.add_error(f"{prefix}.items", message)
        return {"not": items[0] if items else {}}
    if kind == "email_event":
        event = read.text(f"{prefix}.event")
        link = read.optional(f"{prefix}.link_url_contains") if event == CLICKED_LINK else None
        return drop_none(
            {
                "type": kind,
                "email_step_id": read.text(f"{prefix}.email_step_id"),
                "event": event,
                "link_url_contains": link,
                "lookback_window": read.optional(f"{prefix}.lookback_window"),
            }
        )
    if kind == "event":
        return drop_none(
            {
                "type": kind,
                "event": read.text(f"{prefix}.event"),
                "lookback_window": read.optional(f"{prefix}.lookback_window"),
                "properties": read.properties(prefix),
            }
        )
    if kind == "field":
        condition = {
            "type": kind,
            "field": read.text(f"{prefix}.field"),
            "op": read.text(f"{prefix}.op"),
        }
        if condition["op"] != "exists":  # the value box is hidden then; a stale value is dropped
            condition["value"] = value_from_text(read.form.get(f"{prefix}.value"))
        return condition
    if kind in ("segment", "tag"):
        return {"type": kind, kind: read.text(f"{prefix}.{kind}")}
    return {"type": kind}  # the model names the unknown kind


def _to_form(config: dict[str, Any]) -> list[tuple[str, str]]:
    return condition_to_form(config.get("condition"), "cond")


def _from_form(read: FormReader) -> dict[str, Any]:
    return {"condition": condition_from_form(read, "cond")}


def field_name(path: str, values: MultiDict[str, str]) -> str:
    """`condition.all.0.not.value` -> `cond.items.0.items.0.value`."""
    parts = path.split(".")
    out = ["cond"] if parts[:1] == ["condition"] else parts[:1]
    for part in parts[1:]:
        if part == "properties":
            out.append("props")  # the rows as a whole: a property's name is not a field
            break
        out += {"all": ["items"], "any": ["items"], "not": ["items", "0"]}.get(part, [part])
        if out[-1] == "type":
            out[-1] = "kind"
    at_node = out[-1] == "cond" or (len(out) >= 2 and out[-2] == "items" and out[-1].isdigit())
    return ".".join([*out, "kind"] if at_node else out)


def _choices(sequence: Sequence) -> dict[str, Any]:
    return {
        "email_steps": email_step_choices(sequence),
        "custom_fields": panel_choices.custom_fields(sequence.workspace_id),
        "segments": panel_choices.segment_names(sequence.workspace_id),
        "max_condition_depth": MAX_CONDITION_DEPTH,
    }


FORM = StepForm(
    type="branch",
    to_form=_to_form,
    from_form=_from_form,
    choices=_choices,
    field_name=field_name,
    rows={"items": (("kind", "email_event"),), "props": PROPERTY_ROW},
    groups={"items": (("kind", "all"), ("items.0.kind", "email_event"))},
)
