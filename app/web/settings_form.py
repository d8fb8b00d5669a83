"""The sequence's own settings form: name, entry trigger, goals, exit rules, re-enrollment,
sending, the holdout group, the sequence's variables.

Same conventions as the step forms (flat dotted names, values as typed, one message per
field), and checked by the definition's models, so the form accepts what an import accepts.
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection, Mapping
from functools import partial
from typing import Any

from werkzeug.datastructures import MultiDict

from app.core.format.parse import settings_problems
from app.web.form_toolkit import (
    PROPERTY_ROW,
    FormData,
    FormReader,
    Row,
    apply_op,
    compact,
    place_problems,
    properties_to_form,
    text_of,
    value_from_text,
    value_to_text,
    window_from_form,
    window_to_form,
)

TRIGGER_TYPES = ("segment_join", "form_submission", "manual", "api_event")
RE_ENROLLMENT_MODES = ("never", "always", "after_delay")
GOAL_KINDS = ("field_change", "url_visit", "custom_event")
GOAL_ACTIONS = ("exit", "move_to_sequence")
DEFAULT_TIMEZONE = "UTC"
VARIABLE_TYPES = (("datetime", "Date and time"), ("text", "Text"), ("number", "Number"))
_NEW_ROWS: dict[str, Row] = {
    "goals": (("name", ""), ("when", "field_change"), ("action", "exit")),
    "props": PROPERTY_ROW,
    "vars": (("name", ""), ("type", "datetime"), ("value", ""), ("timezone", "")),
}


def apply_settings_op(values: MultiDict[str, str], op: str) -> MultiDict[str, str]:
    """The settings form after an `_op` button (add or remove a goal or property), unsaved."""
    return apply_op(values, op, _NEW_ROWS)


def settings_to_form(data: Mapping[str, Any]) -> FormData:
    """The form for stored settings given in format-v1 shape (missing parts use defaults)."""
    trigger = data.get("trigger") or {}  # none yet: no type is preselected
    exit_rules = data.get("exit") or {}
    re_enrollment = data.get("re_enrollment") or {}
    settings = data.get("settings") or {}
    pairs = [
        ("name", data.get("name") or ""),
        ("description", data.get("description") or ""),
        ("trigger.type", str(trigger.get("type") or "")),
        *[(f"trigger.{key}", str(trigger.get(key) or "")) for key in ("segment", "form", "event")],
        *properties_to_form("trigger", trigger.get("properties")),
        *[("exit.goals", str(goal)) for goal in exit_rules.get("goals") or []],
        *_goals_to_form(data.get("goals") or []),
        ("re_enrollment.mode", str(re_enrollment.get("mode") or "never")),
        ("re_enrollment.delay", str(re_enrollment.get("delay") or "")),
        ("re_enrollment.max_times", str(re_enrollment.get("max_times") or "")),
        ("settings.timezone", str(settings.get("timezone") or DEFAULT_TIMEZONE)),
        ("settings.from_email", str(settings.get("from_email") or "")),
        ("settings.from_name", str(settings.get("from_name") or "")),
        *window_to_form("settings.sending_hours", settings.get("sending_hours")),
        ("settings.reply_to", str(settings.get("reply_to") or "")),
        ("settings.on_send_failure", str(settings.get("on_send_failure") or "fail")),
        ("settings.holdout_percent", text_of(settings.get("holdout_percent"))),
        ("settings.open_tracking", "off" if settings.get("open_tracking") is False else "on"),
        *_variables_to_form(settings.get("variables")),
    ]
    if exit_rules.get("on_reply"):
        pairs.append(("exit.on_reply", "on"))
    return FormData(MultiDict(pairs))


def settings_from_form(
    values: MultiDict[str, str], goal_names: Collection[str]
) -> tuple[dict[str, Any] | None, FormData]:
    """Keyword arguments for `builder.update_settings`, or None and the form with messages.

    Exit goals are chosen among `goal_names` (the sequence's goal steps) and the goals
    defined in this same form.
    """
    read = FormReader(compact(values))
    goals = _goals(read)
    defined = [str(goal["name"]) for goal in goals if goal.get("name")]
    data = {
        "name": read.text("name"),
        "description": read.long_text("description").strip() or None,
        "trigger": _trigger(read),
        "goals": goals,
        "exit": _exit(read, [*goal_names, *defined]),
        "re_enrollment": _re_enrollment(read),
        "settings": _settings(read),
    }
    rows = {name: index for index, name in enumerate(data["settings"].get("variables") or {})}
    checked = data if data["trigger"] else {key: v for key, v in data.items() if key != "trigger"}
    place_problems(read.form, settings_problems(checked), partial(_field_name, rows))
    return (None if read.form.errors else data), read.form


def _trigger(read: FormReader) -> dict[str, Any] | None:
    """The chosen trigger; None until a type is chosen (the checklist then says so)."""
    kind = read.text("trigger.type")
    if not kind:
        return None
    if kind == "segment_join":
        return {"type": kind, "segment": read.text("trigger.segment")}
    if kind == "form_submission":
        return {"type": kind, "form": read.text("trigger.form")}
    if kind == "api_event":
        trigger: dict[str, Any] = {"type": kind, "event": read.text("trigger.event")}
        properties = read.properties("trigger")
        return trigger | ({"properties": properties} if properties else {})
    return {"type": kind}  # the model names an unknown type


def _exit(read: FormReader, goal_names: Collection[str]) -> dict[str, Any]:
    goals = [goal for goal in read.form.getlist("exit.goals") if goal]
    unknown = next((goal for goal in goals if goal not in goal_names), None)
    if unknown is not None:
        read.form.add_error("exit.goals", f"{unknown!r} is not a goal of this sequence")
    return {"on_reply": bool(read.form.get("exit.on_reply")), "goals": goals}


def _goals_to_form(goals: list[Any]) -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = []
    for index, goal in enumerate(g for g in goals if isinstance(g, dict)):
        row, when, action = f"goals.{index}", goal.get("when") or {}, goal.get("action") or {}
        pairs += [
            (f"{row}.name", str(goal.get("name") or "")),
            (f"{row}.when", str(when.get("type") or "field_change")),
            (f"{row}.field", str(when.get("field") or "")),
            (f"{row}.equals", value_to_text(when.get("equals"))),
            (f"{row}.url_contains", str(when.get("url_contains") or "")),
            (f"{row}.event", str(when.get("event") or "")),
            (f"{row}.action", str(action.get("type") or "exit")),
            (f"{row}.sequence", str(action.get("sequence") or "")),
        ]
    return pairs


def _goals(read: FormReader) -> list[dict[str, Any]]:
    """Goal rows: only the boxes of the chosen kind and action count."""
    goals = []
    for index in read.rows("goals"):
        row = f"goals.{index}"
        kind = read.text(f"{row}.when")
        when: dict[str, Any] = {"type": kind}
        if kind == "field_change":
            when |= {"field": read.text(f"{row}.field")}
            when["equals"] = value_from_text(read.form.get(f"{row}.equals"))
        elif kind == "url_visit":
            when["url_contains"] = read.text(f"{row}.url_contains")
        elif kind == "custom_event":
            when["event"] = read.text(f"{row}.event")
        action: dict[str, Any] = {"type": read.text(f"{row}.action") or "exit"}
        if action["type"] == "move_to_sequence":
            action["sequence"] = read.text(f"{row}.sequence")
        goals.append({"name": read.text(f"{row}.name"), "when": when, "action": action})
    return goals


def _re_enrollment(read: FormReader) -> dict[str, Any]:
    """Only the boxes that apply to the chosen mode count; the others may hold stale text."""
    mode = read.text("re_enrollment.mode") or "never"
    rule: dict[str, Any] = {"mode": mode}
    if mode == "after_delay":
        rule["delay"] = read.text("re_enrollment.delay")
    max_times = read.integer("re_enrollment.max_times")
    if mode != "never" and max_times is not None:
        rule["max_times"] = max_times
    return rule


def _settings(read: FormReader) -> dict[str, Any]:
    settings: dict[str, Any] = {"timezone": read.text("settings.timezone") or DEFAULT_TIMEZONE}
    for key in ("from_email", "from_name", "reply_to"):
        if read.text(f"settings.{key}"):
            settings[key] = read.text(f"settings.{key}")
    if read.text("settings.on_send_failure") == "skip":
        settings["on_send_failure"] = "skip"
    hours = window_from_form(read, "settings.sending_hours")
    if hours is not None:
        settings["sending_hours"] = hours
    holdout = read.integer("settings.holdout_percent")  # the model checks 0 to 50
    if holdout is not None:
        settings["holdout_percent"] = holdout
    if read.text("settings.open_tracking") == "off":
        settings["open_tracking"] = False
    variables = _variables(read)
    if variables:
        settings["variables"] = variables
    return settings


def _variables_to_form(variables: Any) -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = []
    for index, (name, spec) in enumerate((variables or {}).items()):
        spec = spec if isinstance(spec, dict) else {"value": spec}
        kind = spec.get("type") or (
            "number" if isinstance(spec.get("value"), int | float) else "text"
        )
        pairs += [
            (f"vars.{index}.name", str(name)),
            (f"vars.{index}.type", str(kind)),
            (f"vars.{index}.value", text_of(spec.get("value"))),
            (f"vars.{index}.timezone", str(spec.get("timezone") or "")),
        ]
    return pairs


def _variables(read: FormReader) -> dict[str, Any]:
    """Variable rows as `settings.variables`, in their order; a blank row is dropped. The
    value is typed by the row's type (a number as a number; a date-time as the local
    time the browser's picker gives, read in the row's zone)."""
    found: dict[str, Any] = {}
    for index in read.rows("vars"):
        row = f"vars.{index}"
        name, kind, value = (
            read.text(f"{row}.name"),
            read.text(f"{row}.type"),
            read.text(f"{row}.value"),
        )
        if not name:
            if value:
                read.form.add_error(f"{row}.name", "a variable needs a name, such as webinar_at")
            continue
        if name in found:
            read.form.add_error(f"{row}.name", f"variable {name!r} is given twice")
            continue
        spec: dict[str, Any] = {"type": kind or "text"}
        if kind == "number" and value:
            number = _number(value)
            if number is None:
                read.form.add_error(f"{row}.value", "enter a number, such as 12 or 4.5")
            spec["value"] = number
        elif value:
            spec["value"] = value
        if kind == "datetime" and read.text(f"{row}.timezone"):
            spec["timezone"] = read.text(f"{row}.timezone")
        found[name] = spec
    return found


def _number(text: str) -> int | float | None:
    try:
        number = float(text)
    except ValueError:
        return None
    if not math.isfinite(number):
        return None
    return int(number) if number.is_integer() else number


def _field_name(variable_rows: Mapping[str, int], path: str) -> str:
    """`trigger.properties.x` -> `trigger.props`, `exit.goals.0` -> `exit.goals`,
    `settings.variables.webinar_at.value` -> `vars.0.value`."""
    variable = re.fullmatch(r"settings\.variables\.([^.]+)(?:\.(\w+))?.*", path)
    if variable and variable[1] in variable_rows:
        row = f"vars.{variable_rows[variable[1]]}"
        return (
            f"{row}.{variable[2]}"
            if variable[2] in ("value", "timezone", "type")
            else f"{row}.name"
        )
    if path == "trigger":
        return "trigger.type"
    if path.startswith("trigger.properties"):
        return "trigger.props"
    goal = re.fullmatch(r"(goals\.\d+)\.(when|action)(?:\.(\w+))?.*", path)
    if goal:
        row, part, key = goal.groups()
        return f"{row}.{key}" if key and key != "type" else f"{row}.{part}"
    return re.sub(r"^exit\.goals\.\d+.*", "exit.goals", path)
