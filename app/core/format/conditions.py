"""Branch conditions of the definition format: on email events, events, fields, segments and
tags, combined with all / any / not. Wait conditions share the link-filter rule."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field, model_validator

from app.core.format.values import (
    BoundedJson,
    DurationText,
    EmailEvent,
    FieldError,
    Model,
    NonBlank,
    Properties,
    choice,
)


class EmailEventCondition(Model):
    type: Literal["email_event"]
    email_step_id: NonBlank
    event: EmailEvent
    link_url_contains: NonBlank | None = None
    lookback_window: DurationText | None = None

    @model_validator(mode="after")
    def _link_needs_click(self) -> EmailEventCondition:
        check_link_filter(self.event, self.link_url_contains)
        return self


class EventCondition(Model):
    type: Literal["event"]
    event: NonBlank
    lookback_window: DurationText | None = None
    properties: Properties | None = None


class FieldCondition(Model):
    type: Literal["field"]
    field: NonBlank
    op: Literal["eq", "neq", "gt", "gte", "lt", "lte", "contains", "exists"]
    value: BoundedJson = None

    @model_validator(mode="after")
    def _value_matches_op(self) -> FieldCondition:
        if self.op == "exists" and self.value is not None:
            raise FieldError("value", "op 'exists' takes no 'value'")
        if self.op != "exists" and self.value is None:
            raise FieldError("value", f"op {self.op!r} needs a 'value' to compare with")
        return self


class SegmentCondition(Model):
    type: Literal["segment"]
    segment: NonBlank


class TagCondition(Model):
    type: Literal["tag"]
    tag: NonBlank


class AllConditions(Model):
    all: list[Condition] = Field(min_length=1)


class AnyConditions(Model):
    any: list[Condition] = Field(min_length=1)


class NotCondition(Model):
    not_: Condition = Field(alias="not")


_COMBINATORS = {"all": "all_of", "any": "any_of", "not": "none_of"}
"""Tags for combinators; distinct from any key so error locations stay unambiguous."""


def _condition_kind(value: Any) -> str | None:
    if isinstance(value, BaseModel):
        value = value.model_dump()
    if not isinstance(value, dict):
        return None
    if "type" in value:
        return value["type"]
    return next((tag for key, tag in _COMBINATORS.items() if key in value), None)


def _condition_message(value: Any) -> tuple[str, list[str | int]]:
    types = "email_event, event, field, segment, tag"
    if isinstance(value, dict) and "type" in value:
        return f"unknown condition type {value['type']!r}; expected one of {types}", ["type"]
    return f"a condition needs a 'type' ({types}) or one of 'all', 'any', 'not'", []


Condition = choice(
    {
        "email_event": EmailEventCondition,
        "event": EventCondition,
        "field": FieldCondition,
        "segment": SegmentCondition,
        "tag": TagCondition,
        "all_of": AllConditions,
        "any_of": AnyConditions,
        "none_of": NotCondition,
    },
    _condition_kind,
    "condition_kind",
    _condition_message,
)

for _combinator in (AllConditions, AnyConditions, NotCondition):
    _combinator.model_rebuild()


def check_link_filter(event: str, link_url_contains: str | None) -> None:
    if link_url_contains is not None and event != "clicked_link":
        raise FieldError("link_url_contains", "'link_url_contains' only applies to 'clicked_link'")
