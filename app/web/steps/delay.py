"""The delay step's panel: a duration (optionally inside a delivery window), or until a
weekday and time, a date and time, or a date held in a contact field."""

from __future__ import annotations

import re
from typing import Any

from werkzeug.datastructures import MultiDict

from app.models import Sequence
from app.services import panel_choices
from app.web.form_toolkit import FormReader, drop_none, text_of, timezone_names
from app.web.steps.base import StepForm

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_NEW_WINDOW = (
    *[("window.weekdays", day) for day in WEEKDAYS[:5]],
    ("window.start", "09:00"),
    ("window.end", "17:00"),
    ("window.timezone", "recipient"),
    ("if_window_missed", "next_window"),
)


def _clock_text(value: Any) -> str:
    """'9:00' as '09:00': what a time input shows."""
    text = text_of(value)
    return f"0{text}" if re.fullmatch(r"\d:\d\d", text) else text


def _to_form(config: dict[str, Any]) -> list[tuple[str, str]]:
    pairs = [("until", text_of(config.get("until")))]
    for key in ("duration", "weekday", "at", "field", "offset", "timezone"):
        pairs.append((key, text_of(config.get(key))))
    pairs.append(("if_past", text_of(config.get("if_past") or "continue")))
    pairs.append(("time", _clock_text(config.get("time"))))
    window = config.get("window")
    if isinstance(window, dict):
        pairs.append(("window.enabled", "on"))
        pairs += [("window.weekdays", day) for day in window.get("weekdays") or WEEKDAYS]
        pairs.append(("window.start", _clock_text(window.get("start"))))
        pairs.append(("window.end", _clock_text(window.get("end"))))
        pairs.append(("window.timezone", text_of(window.get("timezone") or "recipient")))
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
    if read.form.get("window.enabled"):
        weekdays = [day for day in read.form.getlist("window.weekdays") if day]
        if not weekdays:
            read.form.add_error("window.weekdays", "choose at least one day")
        config["window"] = {
            "weekdays": weekdays,
            "start": read.text("window.start"),
            "end": read.text("window.end"),
            "timezone": read.text("window.timezone") or "recipient",
        }
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
    return {
        "custom_fields": panel_choices.custom_fields(sequence.workspace_id),
        "timezones": timezone_names(),
    }


FORM = StepForm(
    type="delay",
    to_form=_to_form,
    from_form=_from_form,
    choices=_choices,
    filled=_with_new_window,
)
