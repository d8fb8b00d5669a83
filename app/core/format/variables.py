"""`settings.variables`: values the author sets once for the whole sequence (a webinar's
date and time, a discount code, a price), used in templates as `{{ sequence.<name> }}` and
by `until: field` delays as `field: sequence.<name>`.

Each variable is typed: `{"type": "text" | "number" | "datetime", "value": ...}`; a
date-time also names its IANA `timezone` (default: the sequence's), so one instant is meant
for every recipient, across daylight-saving changes. A plain string or number is accepted
as a text or number variable. `value` may be left out (null) while the author has not set
it yet: the launch checklist then blocks the steps that need it.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BeforeValidator, Field, StrictFloat, StrictInt, model_validator

from app.core.format.values import FieldError, Model, OneLine, TimeZoneName, choice, iso_datetime

VARIABLE_NAME = re.compile(r"[a-z][a-z0-9_]{0,62}")
MAX_VARIABLES = 50


def _variable_name(text: str) -> str:
    if VARIABLE_NAME.fullmatch(text) is None:
        raise ValueError(
            f"{text!r} is not a variable name; use lowercase letters, digits and '_', "
            "starting with a letter (e.g. webinar_at)"
        )
    return text


VariableName = Annotated[str, AfterValidator(_variable_name)]


class TextVariable(Model):
    type: Literal["text"]
    value: OneLine | None = None


class NumberVariable(Model):
    type: Literal["number"]
    value: StrictInt | StrictFloat | None = None


class DateTimeVariable(Model):
    """`value` without a UTC offset is wall-clock time in `timezone` (else the sequence's)."""

    type: Literal["datetime"]
    value: Annotated[str, AfterValidator(iso_datetime)] | None = None
    timezone: TimeZoneName | None = None

    @model_validator(mode="after")
    def _one_zone(self) -> DateTimeVariable:
        if (
            self.value is not None
            and self.timezone is not None
            and datetime.fromisoformat(self.value).tzinfo is not None
        ):
            raise FieldError("timezone", "'value' already has a UTC offset; drop one of the two")
        return self


def _shorthand(value: Any) -> Any:
    """A plain string or number is a text or number variable (booleans are neither)."""
    if isinstance(value, str):
        return {"type": "text", "value": value}
    if isinstance(value, int | float) and not isinstance(value, bool):
        return {"type": "number", "value": value}
    return value


def _variable_type(value: Any) -> str | None:
    kind = value.get("type") if isinstance(value, dict) else getattr(value, "type", None)
    return kind if kind in ("text", "number", "datetime") else None


def _variable_message(value: Any) -> tuple[str, list[str | int]]:
    if not isinstance(value, dict):
        return "a variable is a text, a number, or a mapping with 'type' and 'value'", []
    return (
        f"unknown variable type {value.get('type')!r}; expected text, number or datetime",
        ["type"],
    )


Variable = Annotated[
    choice(
        {"text": TextVariable, "number": NumberVariable, "datetime": DateTimeVariable},
        _variable_type,
        "variable_type",
        _variable_message,
    ),
    BeforeValidator(_shorthand),
]

Variables = Annotated[
    dict[VariableName, Variable],
    Field(max_length=MAX_VARIABLES),
]
"""The mapping stored at `settings.variables`; names are template-safe identifiers."""
