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
    parse_clock_time,
)
from app.core.steps.base import (
    NominalWait,
    StepKind,
    nominal_seconds,
    nominal_signed_seconds,
)
from app.core.steps.runtime import Context, Pacing, Verdict
from app.core.timing import WEEKDAY_NUMBERS, cached_duration
from app.core.variables import variable_name
from app.core.wording import join_words

if TYPE_CHECKING:
    from app.core.engine import Step

_WEEKDAY_ORDER = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_DAY_LABELS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_DAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_NAMED_WINDOWS = {
    frozenset(range(7)): "daily",
    frozenset(range(5)): "weekday",
    frozenset({5, 6}): "weekend",
}


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
        text = f"Until {_field_words(config['field'])}" + (f" {offset}" if offset else "")
    else:
        text = f"Wait {config['duration']}"
    window = config.get("window")
    if isinstance(window, Mapping):
        text += f" · {_weekdays(window.get('weekdays'))} {window['start']}-{window['end']}"
    return text


def _field_words(field: Any) -> str:
    """ "contact's webinar_at", or "sequence's webinar_at" for `sequence.webinar_at`."""
    name = variable_name(field)
    return f"contact's {field}" if name is None else f"sequence's {name}"


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
    due = timing.delay_due(
        config, ctx.since, position.zone, ctx.fields, position.context, ctx.variables
    )
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


def _waiting_text(config: Mapping[str, Any], when: str) -> str:
    """ "waiting 2 days: until <when>", "waiting for the weekday window: <when>", ..."""
    until = config.get("until")
    zone_note = _zone_note(config.get("timezone"))
    if until == "weekday":
        day = _DAY_NAMES[WEEKDAY_NUMBERS[str(config["weekday"]).strip().lower()[:3]]]
        clock = parse_clock_time(str(config["time"])).strftime("%H:%M")
        return f"waiting until {day} {clock}{zone_note}: {when}"
    if until == "datetime":
        return f"waiting until {_written_datetime(str(config['at']))}{zone_note}: {when}"
    if until == "field":
        offset = str(config.get("offset") or "").strip()
        target = f"{config['field']} {offset}" if offset else str(config["field"])
        return f"waiting until {target}{zone_note}: {when}"
    window = config.get("window")
    if window:
        return f"waiting for the {_window_name(window)}: {when}"
    return f"waiting {_duration_text(str(config['duration']))}: until {when}"


def _zone_note(name: Any) -> str:
    return f" {name}" if isinstance(name, str) and name and name != "recipient" else ""


def _written_datetime(text: str) -> str:
    """'2026-12-01T09:00:00' as '1 Dec 2026 09:00' (with its UTC offset when it has one)."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        return text
    written = f"{moment.day} {_MONTHS[moment.month - 1]} {moment.year} {moment:%H:%M}"
    offset = moment.utcoffset()
    if offset is None:
        return written
    minutes = int(offset.total_seconds()) // 60
    if not minutes:
        return f"{written} UTC"
    sign = "+" if minutes > 0 else "-"
    hours, minutes = divmod(abs(minutes), 60)
    return f"{written} UTC{sign}{hours:02d}:{minutes:02d}"


def _window_name(window: Mapping[str, Any]) -> str:
    """'weekday window' for Mon-Fri, 'weekend', 'daily', else its days: 'Mon, Wed and Fri
    window'; with the window's own zone when it is not the recipient's."""
    weekdays = window.get("weekdays")
    days = (
        frozenset(range(7))
        if weekdays is None
        else frozenset(WEEKDAY_NUMBERS[str(day).strip().lower()[:3]] for day in weekdays)
    )
    name = _NAMED_WINDOWS.get(days) or join_words([_DAY_LABELS[day] for day in sorted(days)], "and")
    zone = _zone_note(window.get("timezone")).strip()
    return f"{name} window ({zone})" if zone else f"{name} window"


def _duration_text(text: str) -> str:
    """The duration as the author wrote it; ISO 8601 ('P2D') spelled out ('2 days')."""
    cleaned = text.strip()
    parsed = cached_duration(cleaned)  # refuses text that is not a duration
    return str(parsed) if cleaned.lower().startswith("p") else cleaned


def _nominal_wait(config: Mapping[str, Any]) -> NominalWait:
    until = config.get("until")
    if until == "field":
        offset = nominal_signed_seconds(config.get("offset") or "0 days")
        return NominalWait(timed_from=f"the {_field_words(config.get('field'))}", offset=offset)
    if until == "datetime":
        return NominalWait(timed_from=str(config.get("at")).replace("T", " "))
    if until == "weekday":
        weekday = str(config.get("weekday") or "").capitalize()
        return NominalWait(until_weekday=f"{weekday} {config.get('time')}")
    return NominalWait(seconds=nominal_seconds(config.get("duration")))


KIND = StepKind(
    type="delay",
    label="Delay",
    hint="Wait, then continue in a send window",
    colour="#8250df",
    order=20,
    summary=_summary,
    run=_run,
    waiting_text=_waiting_text,
    nominal_wait=_nominal_wait,
    config_model=DelayConfig,
    default_config={"duration": "1 day"},
    waits=True,
)
