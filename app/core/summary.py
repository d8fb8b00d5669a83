"""One line per step for the canvas card: what the step does, in the author's words."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

_WEEKDAY_ORDER = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def step_summary(step_type: str, config: Mapping[str, Any]) -> str:
    """A short description of a step's settings; unfinished settings give a hint instead."""
    describe = _DESCRIBERS.get(step_type)
    try:
        return describe(config) if describe else ""
    except (KeyError, TypeError, AttributeError):
        return "Not set up yet"


def _email(config: Mapping[str, Any]) -> str:
    subject = str(config.get("subject") or "").strip()
    return subject or "No subject yet"


def _delay(config: Mapping[str, Any]) -> str:
    until = config.get("until")
    if until == "weekday":
        text = f"Until {str(config['weekday']).capitalize()} {config['time']}"
    elif until == "datetime":
        text = f"Until {config['at']}"
    elif until == "field":
        offset = config.get("offset")
        text = f"Until contact's {config['field']}" + (f" {offset}" if offset else "")
    else:
        text = f"Wait {config['duration']}"
    window = config.get("window")
    if isinstance(window, Mapping):
        text += f" · {_weekdays(window.get('weekdays'))} {window['start']}-{window['end']}"
    return text


def _weekdays(days: Any) -> str:
    if not days or set(days) == set(_WEEKDAY_ORDER):
        return "every day"
    ordered = [day for day in _WEEKDAY_ORDER if day in days]
    if ordered == list(_WEEKDAY_ORDER[:5]):
        return "Mon-Fri"
    return ", ".join(day.capitalize() for day in ordered)


def _wait_until(config: Mapping[str, Any]) -> str:
    conditions = config.get("conditions") or []
    if not conditions:
        return "Choose what to wait for"
    names = [str(c.get("event") or c.get("field")) for c in conditions]
    longest = conditions[0].get("timeout")
    return f"Until {' or '.join(names)} (up to {longest})"


def _branch(config: Mapping[str, Any]) -> str:
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


def _split(config: Mapping[str, Any]) -> str:
    return " · ".join(f"{p['label']} {p['percent']}%" for p in config.get("paths") or [])


def _action(config: Mapping[str, Any]) -> str:
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


def _goal(config: Mapping[str, Any]) -> str:
    return f"Goal: {config['goal']}" if config.get("goal") else "Choose a goal"


def _end(config: Mapping[str, Any]) -> str:
    return "The sequence ends here"


_DESCRIBERS = {
    "email": _email,
    "delay": _delay,
    "wait_until": _wait_until,
    "branch": _branch,
    "split": _split,
    "action": _action,
    "goal": _goal,
    "end": _end,
}
