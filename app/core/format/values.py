"""Field values of the definition format: validators for durations, clocks, zones, names and
bounded JSON, and the strict model base every part of the format (and every step kind's
config model) builds on."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime, time
from typing import Annotated, Any, Literal, Union
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    JsonValue,
    SerializerFunctionWrapHandler,
    Tag,
    model_serializer,
    model_validator,
)

from app.core import limits
from app.core.addresses import AddressError, normalise_address
from app.core.durations import parse_duration, parse_signed_duration
from app.core.events import EMAIL_EVENTS
from app.core.text_rules import multi_line, single_line

_STEP_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
_CLOCK = re.compile(r"(\d{1,2}):(\d{2})")
KNOWN_KEYS: set[str] = set()
"""Every key of the format, to suggest the intended one when a key is misspelt."""
UNION_MESSAGES: dict[str, Callable[[Any], tuple[str, list[str | int]]]] = {}
"""Messages of the unions chosen by a function (see `choice`), by their error type."""
UNION_TAGS: set[str] = set()
"""Tags such unions put in error locations; they are not keys of the document."""


class FieldError(ValueError):
    """A model-level check that blames one field, so the problem points at that key (or at
    a path below it: `(2, "url")` for the url of a list's third item)."""

    def __init__(self, field: str | tuple[str | int, ...], message: str) -> None:
        super().__init__(message)
        self.field = field


def parse_clock_time(text: str) -> time:
    """A local time of day written "09:00" (or "9:00")."""
    match = _CLOCK.fullmatch(text.strip())
    if match is None or int(match[1]) > 23 or int(match[2]) > 59:
        raise ValueError(f"{text!r} is not a time of day such as '09:00'")
    return time(int(match[1]), int(match[2]))


def _non_blank(text: str) -> str:
    if not text.strip():
        raise ValueError("must not be empty")
    return text


def _step_id(text: str) -> str:
    if _STEP_ID.fullmatch(text) is None:
        raise ValueError(
            f"{text!r} is not a valid step id; use 1 to 64 letters, digits, '_' or '-'"
        )
    return text


def _duration(text: str) -> str:
    parse_duration(text)
    return text


def _offset(text: str) -> str:
    parse_signed_duration(text)
    return text


def _clock(text: str) -> str:
    parse_clock_time(text)
    return text


def _time_zone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ValueError(
            f"{name!r} is not an IANA time zone such as 'Europe/Paris' or 'UTC'"
        ) from None
    return name


def _zone_choice(name: str) -> str:
    return name if name == "recipient" else _time_zone(name)


def iso_datetime(text: str) -> str:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(
            f"{text!r} is not an ISO 8601 date and time such as '2026-12-01T09:00:00'"
        ) from None
    if not limits.YEAR_MIN <= moment.year <= limits.YEAR_MAX:
        raise ValueError(
            f"{text!r} is out of range; the year must be {limits.YEAR_MIN} to {limits.YEAR_MAX}"
        )
    return text


def email_address_value(text: str) -> str:
    try:
        return normalise_address(text)
    except AddressError as exc:
        raise ValueError(str(exc)) from None


def _bounded_json(value: Any) -> Any:
    problem = limits.json_size_problem(value, limits.FIELD_VALUE)
    if problem is not None:
        raise ValueError(f"the value {problem}")
    return value


def _bounded_properties(value: Any) -> Any:
    problem = limits.json_size_problem(value, limits.CONTEXT)
    if problem is not None:
        raise ValueError(f"the properties {problem}")
    return value


def _bool_label(value: Any) -> Any:
    """YAML reads an unquoted `label: true` as a boolean; the branch path is the text."""
    return str(value).lower() if isinstance(value, bool) else value


OneLine = Annotated[str, Field(max_length=limits.NAME), AfterValidator(single_line)]
"""A name-like value: one line (it may reach a mail header), at most NAME characters."""
NonBlank = Annotated[OneLine, AfterValidator(_non_blank)]
Subject = Annotated[str, Field(max_length=limits.SUBJECT), AfterValidator(single_line)]
Body = Annotated[str, Field(max_length=limits.BODY), AfterValidator(multi_line)]
Description = Annotated[str, Field(max_length=limits.DESCRIPTION), AfterValidator(multi_line)]
BoundedJson = Annotated[JsonValue, AfterValidator(_bounded_json)]
"""A value compared with or stored in a contact field: at most FIELD_VALUE characters."""
Properties = Annotated[dict[str, JsonValue], AfterValidator(_bounded_properties)]
StepId = Annotated[str, AfterValidator(_step_id)]
DurationText = Annotated[str, AfterValidator(_duration)]
"""A duration kept exactly as written, so exports show what the author typed."""
OffsetText = Annotated[str, AfterValidator(_offset)]
ClockTime = Annotated[str, AfterValidator(_clock)]
TimeZoneName = Annotated[str, AfterValidator(_time_zone)]
ZoneChoice = Annotated[str, AfterValidator(_zone_choice)]
"""`recipient` (the contact's own zone, else the sequence's) or an IANA zone name."""
Label = Annotated[
    str,
    Field(max_length=50),
    BeforeValidator(_bool_label),
    AfterValidator(single_line),
    AfterValidator(_non_blank),
]
"""Labels are stored in `sequence_connections.condition_label`, a VARCHAR(50)."""
Weekday = Literal["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
ShortWeekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
EmailEvent = Literal[EMAIL_EVENTS]  # type: ignore[valid-type]


class Model(BaseModel):
    """Strict base: unknown keys are errors and exports omit optional keys left out."""

    model_config = ConfigDict(extra="forbid", coerce_numbers_to_str=True, serialize_by_alias=True)

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        KNOWN_KEYS.update(field.alias or name for name, field in cls.model_fields.items())

    @model_serializer(mode="wrap")
    def _omit_absent(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """Drop optional keys that are None; keep required ones (`value: null` clears a field)."""
        data = handler(self)
        absent = {
            field.alias or name
            for name, field in type(self).model_fields.items()
            if not field.is_required() and field.default is None
        }
        return {key: value for key, value in data.items() if not (value is None and key in absent)}


def choice(
    members: dict[str, Any],
    pick: Callable[[Any], str | None],
    error: str,
    message: Callable[[Any], tuple[str, list[str | int]]],
) -> Any:
    """A union of models chosen by `pick(value)` (a tag of `members`, or None when nothing
    fits); an input it cannot place is reported by `message(value)` -> (text, key to blame).

    The tags are registered so error locations skip them, whichever module the union is in.
    """
    UNION_MESSAGES[error] = message
    UNION_TAGS.update(members)
    tagged = tuple(Annotated[model, Tag(tag)] for tag, model in members.items())
    return Annotated[
        Union[tagged],  # noqa: UP007 - built from a runtime tuple
        Discriminator(pick, custom_error_type=error, custom_error_message="-"),
    ]


class Window(Model):
    """Hours in which the contact may move on after a delay; every day when `weekdays` is
    left out. Overnight windows (end before start) are not supported."""

    weekdays: list[ShortWeekday] = Field(
        default=["mon", "tue", "wed", "thu", "fri", "sat", "sun"], min_length=1
    )
    start: ClockTime
    end: ClockTime
    timezone: ZoneChoice = "recipient"

    @model_validator(mode="after")
    def _window_is_open(self) -> Window:
        if len(set(self.weekdays)) != len(self.weekdays):
            raise FieldError("weekdays", "each weekday may appear only once")
        if parse_clock_time(self.start) >= parse_clock_time(self.end):
            raise FieldError("end", f"end {self.end!r} must be later than start {self.start!r}")
        return self
