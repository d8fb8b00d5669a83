"""Wait until: hold the contact until an event or a field change, or a timeout."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, Field, model_validator

from app.core import decisions, limits, waits
from app.core.events import EMAIL_EVENTS
from app.core.format.conditions import check_link_filter
from app.core.format.values import DurationText, FieldError, Model, NonBlank, Properties, choice
from app.core.steps.base import (
    LegacyPath,
    NominalWait,
    StepKind,
    fixed_outputs,
    nominal_seconds,
)
from app.core.steps.runtime import Context, Verdict
from app.core.wording import join_words

if TYPE_CHECKING:
    from app.core.engine import Step


class WaitForEvent(Model):
    """An event to wait for; email events need the email step they refer to.

    `properties` must equal the event's; `match` correlates with the enrollment: its values
    may be references such as `{{ enrollment.trigger.properties.cart_id }}`.
    """

    event: NonBlank
    timeout: DurationText
    properties: Properties | None = None
    match: Properties | None = None
    email_step_id: NonBlank | None = None
    link_url_contains: NonBlank | None = None

    @model_validator(mode="after")
    def _email_event_names_step(self) -> WaitForEvent:
        is_email = self.event in EMAIL_EVENTS
        if is_email and self.email_step_id is None:
            raise FieldError("email_step_id", f"email event {self.event!r} needs 'email_step_id'")
        if not is_email and self.email_step_id is not None:
            events = ", ".join(EMAIL_EVENTS)
            raise FieldError("email_step_id", f"'email_step_id' only applies to {events}")
        check_link_filter(self.event, self.link_url_contains)
        return self


class WaitForField(Model):
    """Wait until a contact field gets a value or changes."""

    field: NonBlank
    timeout: DurationText


def _wait_kind(value: Any) -> str | None:
    keys = value if isinstance(value, dict) else vars(value) if isinstance(value, BaseModel) else {}
    return "wait_event" if "event" in keys else "wait_field" if "field" in keys else None


def _wait_message(value: Any) -> tuple[str, list[str | int]]:
    return "a wait condition needs an 'event' or a 'field' to wait for", []


WaitCondition = choice(
    {"wait_event": WaitForEvent, "wait_field": WaitForField},
    _wait_kind,
    "wait_kind",
    _wait_message,
)


class OnTimeout(Model):
    """The seed's inline timeout path: `action` (or `next`) is the id of the step to go to."""

    action: NonBlank | None = None
    next: NonBlank | None = None

    @model_validator(mode="after")
    def _one_target(self) -> OnTimeout:
        if (self.action is None) == (self.next is None):
            raise FieldError("next", "give the timeout path's step id as 'next' (or 'action')")
        return self


class WaitUntilConfig(Model):
    """Wait for the first condition met (`met` path); each condition counts only within its
    own timeout, so the `timeout` path is taken once the longest timeout has passed."""

    type: Literal["wait_until"] | None = None
    conditions: list[WaitCondition] = Field(min_length=1, max_length=limits.CHOICES)
    on_timeout: OnTimeout | None = None


def _legacy_paths(config: WaitUntilConfig) -> list[LegacyPath]:
    """The seed's inline `on_timeout: {next: ...}` (or `action:`) is the timeout path."""
    on_timeout = config.on_timeout
    if on_timeout is None:
        return []
    config.on_timeout = None
    key = "action" if on_timeout.next is None else "next"
    return [(f"on_timeout.{key}", "timeout", on_timeout.next or on_timeout.action)]


def _summary(config: Mapping[str, Any]) -> str:
    conditions = config.get("conditions") or []
    if not conditions:
        return "Choose what to wait for"
    names = [str(c.get("event") or c.get("field")) for c in conditions]
    longest = conditions[0].get("timeout")
    return f"Until {' or '.join(names)} (up to {longest})"


def _run(step: Step, ctx: Context) -> Verdict:
    """`met` once a condition is met within its timeout, `timeout` after the longest one;
    until then the contact waits (and is woken early by the events it waits for)."""
    position = ctx.position
    found = waits.verdict(
        step.config, ctx.since, ctx.now, position.events, position.zone, position.scope
    )
    if found.path is None:
        return Verdict.wait(found.next_at)
    if found.condition is not None and found.event is not None:
        return Verdict.go(
            "met", found.path, decision=decisions.wait_met(found.condition, found.event)
        )
    return Verdict.go("timed_out", found.path, decision=decisions.wait_timed_out(step.config))


def _waiting_text(config: Mapping[str, Any], when: str) -> str:
    return f"waiting for {_awaited(config.get('conditions') or [])} until {when}"


def _awaited(conditions: Iterable[Mapping[str, Any]]) -> str:
    """'user_login or a change to company_size': what any condition of a wait listens for."""
    parts = [_condition_text(condition) for condition in conditions]
    return join_words(parts, "or") if parts else "its conditions"


def _condition_text(condition: Mapping[str, Any]) -> str:
    event = condition.get("event")
    if event is None:
        return f"a change to {condition['field']}"
    if event not in EMAIL_EVENTS:
        return str(event)
    text = f"{event} on {condition.get('email_step_id')}"
    link = condition.get("link_url_contains")
    return f"{text} (link containing {link})" if event == "clicked_link" and link else text


def _nominal_wait(config: Mapping[str, Any]) -> NominalWait:
    """The longest timeout: a wait may end sooner, the gallery quotes the longest case."""
    timeouts = [nominal_seconds(c.get("timeout")) for c in config.get("conditions") or []]
    return NominalWait(seconds=max(timeouts, default=0))


KIND = StepKind(
    type="wait_until",
    label="Wait until",
    hint="Wait for an event, with a timeout",
    colour="#bf3989",
    order=30,
    summary=_summary,
    run=_run,
    awaited_events=waits.event_names,
    waiting_text=_waiting_text,
    nominal_wait=_nominal_wait,
    config_model=WaitUntilConfig,
    default_config={"conditions": []},
    outputs=fixed_outputs("met", "timeout"),
    waits=True,
    legacy_paths=_legacy_paths,
)
