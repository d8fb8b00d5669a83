"""The delay step's panel: a duration (optionally inside a delivery window), or until a
weekday and time, a date and time, or a date held in a contact field."""

from __future__ import annotations

from typing import Any

from werkzeug.datastructures import MultiDict

from app.core.variables import PREFIX, sequence_variables
from app.models import Sequence
from app.services import panel_choices
from app.web.form_toolkit import (
    WEEKDAYS,
    FormReader,
    clock_text,
    drop_none,
    text_of,
    timezone_names,
    window_from_form,
    window_to_form,
)
from app.web.steps.base import StepForm

_NEW_WINDOW = (
    *[("window.weekdays", day) for day in WEEKDAYS[:5]],
    ("window.start", "09:00"),
    ("window.end", "17:00"),
    ("window.timezone", "recipient"),
    ("if_window_missed", "next_window"),
)


def _to_form(config: dict[str, Any]) -> list[tuple[str, str]]:
    pairs = [("until", text_of(config.get("until")))]
    for key in ("duration", "weekday", "at", "field", "offset", "timezone"):
        pairs.append((key, text_of(config.get(key))))
    pairs.append(("if_past", text_of(config.get("if_past") or "continue")))
    pairs.append(("time", clock_text(config.get("time"))))
    window = config.get("window")
    if isinstance(window, dict):
        pairs += window_to_form("window", window)
        pairs.append(("if_window_missed", text_of(config.get("if_window_missed") or "next_window")))
    return pairs


def _from_form(read: FormReader) -> dict[str, Any]:
    until = read.text("until")
    timezone = read.optional("timezone")
    if until == "weekday":
        return drop_none(
            {
                "until": "weekday",
                "weekday": read.text("weekday"),
                "time": read.text("time"),
                "timezone": timezone,
            }
        )
    if_past = read.text("if_past")
    if_past = None if if_past in ("", "continue") else if_past  # the default is not written
    if until == "datetime":
        return drop_none(
            {"until": "datetime", "at": read.text("at"), "timezone": timezone, "if_past": if_past}
        )
    if until == "field":
        return drop_none(
            {
                "until": "field",
                "field": read.text("field"),
                "offset": read.optional("offset"),
                "timezone": timezone,
                "if_past": if_past,
            }
        )
    if until:
        return {"until": until}  # the model names the unknown mode
    config: dict[str, Any] = {"duration": read.text("duration")}
    window = window_from_form(read, "window")
    if window is not None:
        config["window"] = window
        config["if_window_missed"] = read.text("if_window_missed") or "next_window"
    return config


def _with_new_window(values: MultiDict[str, str]) -> MultiDict[str, str]:
    """A delivery window just switched on starts as the seed's: weekdays, 9 to 5, local time."""
    if not values.get("window.enabled") or "window.start" in values:
        return values
    filled = MultiDict(values)
    for key, value in _NEW_WINDOW:
        filled.add(key, value)
    return filled


def _choices(sequence: Sequence) -> dict[str, Any]:
    """Contact fields, then the sequence's date-time variables as `sequence.<name>`."""
    variables = sequence_variables(sequence.settings)
    dated = [f"{PREFIX}{name}" for name, v in variables.items() if v.type == "datetime"]
    return {
        "custom_fields": panel_choices.custom_fields(sequence.workspace_id) + dated,
        "timezones": timezone_names(),
    }


FORM = StepForm(
    type="delay",
    to_form=_to_form,
    from_form=_from_form,
    choices=_choices,
    filled=_with_new_window,
)
