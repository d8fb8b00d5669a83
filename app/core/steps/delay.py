"""Delay: wait a duration, until a weekday, a date or a contact's field, in a send window."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import AfterValidator, model_validator

from app.core import timing
from app.core.format.values import (
    ClockTime,
    DurationText,
    FieldError,
    Model,
    NonBlank,
    OffsetText,
    Weekday,
    Window,
    ZoneChoice,
    choice,
    iso_datetime,
)
from app.core.steps.base import StepKind
from app.core.steps.runtime import Context, Pacing, Verdict

if TYPE_CHECKING:
    from app.core.engine import Step

_WEEKDAY_ORDER = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class _DelayConfig(Model):
    type: Literal["delay"] | None = None


class DelayFor(_DelayConfig):
    duration: DurationText
    window: Window | None = None
    if_window_missed: Literal["next_window", "send_anyway"] | None = None

    @model_validator(mode="after")
    def _missed_needs_window(self) -> DelayFor:
        if self.if_window_missed is not None and self.window is None:
            raise FieldError("if_window_missed", "'if_window_missed' only applies with a 'window'")
        return self


class DelayUntilWeekday(_DelayConfig):
    until: Literal["weekday"]
    weekday: Weekday
    time: ClockTime
    timezone: ZoneChoice | None = None


IfPast = Literal["continue", "skip_next_email"]
"""When an `until` target has already passed on arrival: go on (the default), or go on
without sending the email right after the delay (a reminder that would come too late)."""


class DelayUntilDatetime(_DelayConfig):
    """`at` without a UTC offset is local time in `timezone` (default: the recipient's)."""

    until: Literal["datetime"]
    at: Annotated[str, AfterValidator(iso_datetime)]
    timezone: ZoneChoice | None = None
    if_past: IfPast | None = None

    @model_validator(mode="after")
    def _one_zone(self) -> DelayUntilDatetime:
        if self.timezone is not None and datetime.fromisoformat(self.at).tzinfo is not None:
            raise FieldError("timezone", "'at' already has a UTC offset; drop one of the two")
        return self


class DelayUntilField(_DelayConfig):
    """Wait until the date in a contact field (e.g. `webinar_at`), shifted by `offset`."""

    until: Literal["field"]
    field: NonBlank
    offset: OffsetText | None = None
    timezone: ZoneChoice | None = None
    if_past: IfPast | None = None


def _delay_kind(value: Any) -> str | None:
    if isinstance(value, dict) and value.get("type") == "wait_until":
        return None  # the seed calls it delay_config, but here it is a step type of its own
    until = value.get("until") if isinstance(value, dict) else getattr(value, "until", None)
    return "for_duration" if until is None else f"until_{until}"


def _delay_message(value: Any) -> tuple[str, list[str | int]]:
    if value.get("type") == "wait_until":
        return "a wait_until config needs a step of type 'wait_until', not 'delay'", ["type"]
    until = value.get("until")
    return (
        f"unknown 'until' value {until!r}; expected weekday, datetime or field "
        "(or leave 'until' out and give a 'duration')",
        ["until"],
    )


DelayConfig = choice(
    {
        "for_duration": DelayFor,
        "until_weekday": DelayUntilWeekday,
        "until_datetime": DelayUntilDatetime,
        "until_field": DelayUntilField,
    },
    _delay_kind,
    "delay_kind",
    _delay_message,
)


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


def _run(step: Step, ctx: Context) -> Verdict:
    """Wait until due; then the emails after it keep to its window, and an `until` target
    already passed on arrival may skip the email right after (`if_past`)."""
    try:
        due = _due(step.config, ctx)
    except timing.TargetOutOfRange as exc:
        return Verdict.fail(f"step '{step.key}': {exc}")
    if due > ctx.now:
        return Verdict.wait(due)
    # An `until` delay gives back its arrival time when the target had passed.
    skip = getattr(step.parsed, "if_past", None) == "skip_next_email" and due <= ctx.since
    return Verdict.go("waited", pacing=Pacing(_send_window(step.config, ctx), skip))


def _due(config: Mapping[str, Any], ctx: Context) -> datetime:
    """When the delay lets the contact on; a window missed while the contact was due (a
    backlog, a pause) is waited for again unless the step says `send_anyway`."""
    position = ctx.position
    due = timing.delay_due(config, ctx.since, position.zone, ctx.fields, position.context)
    window = config.get("window")
    if due > ctx.now or not window or config.get("if_window_missed") == "send_anyway":
        return due
    return timing.next_window_open(ctx.now, window, position.zone)


def _send_window(config: Mapping[str, Any], ctx: Context) -> dict[str, Any] | None:
    """The window the next emails must still be inside when the dispatcher sends them."""
    window = config.get("window")
    if not window or config.get("if_window_missed") == "send_anyway":
        return None
    return {"window": dict(window), "zone": ctx.position.zone.key}


KIND = StepKind(
    type="delay",
    label="Delay",
    hint="Wait, then continue in a send window",
    colour="#8250df",
    order=20,
    summary=_summary,
    run=_run,
    config_model=DelayConfig,
    default_config={"duration": "1 day"},
    waits=True,
)
