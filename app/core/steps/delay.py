"""Delay: wait a duration, until a weekday, a date or a contact's field, in a send window."""

from collections.abc import Mapping
from typing import Any

from app.core.steps.base import StepKind

_WEEKDAY_ORDER = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _summary(config: Mapping[str, Any]) -> str:
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


KIND = StepKind(
    type="delay",
    label="Delay",
    hint="Wait, then continue in a send window",
    colour="#8250df",
    order=20,
    summary=_summary,
    default_config={"duration": "1 day"},
    waits=True,
)
