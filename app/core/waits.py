"""wait_until semantics: which events a wait listens for, and whether it is met.

A contact waits on the first condition met (`met` path). Each condition counts events from
the moment the contact arrived until its own timeout; once the longest timeout has passed
with nothing met, the `timeout` path is taken. Events before the wait began never count.

Conditions:
- `{"event": "user_login"}`: a custom event of that name, with optional `properties` that
  must be equal, and optional `match` whose values may reference the enrollment
  (`{{ enrollment.trigger.properties.cart_id }}`): the abandoned-cart pattern. A reference
  that resolves to nothing matches no event.
- `{"field": "company_size"}`: a `field_changed` event for that field.
- email events (`opened`, `clicked_link`, `replied`, `bounced`) with `email_step_id`, for
  this enrollment's email only, and `link_url_contains` for clicks.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from app.core.events import EMAIL_EVENTS, FIELD_CHANGED
from app.core.timing import add_duration, cached_duration

_REFERENCE = re.compile(r"^\{\{\s*([A-Za-z_][\w.]*)\s*\}\}$")


@dataclass(frozen=True)
class SeenEvent:
    """An event of the contact, as the wait sees it."""

    type: str
    properties: Mapping[str, Any]
    occurred_at: datetime
    enrollment_id: str | None = None


@dataclass(frozen=True)
class WaitVerdict:
    path: str | None  # "met" | "timeout" | None (still waiting)
    next_at: datetime | None  # when to look again if still waiting
    reason: str | None = None  # which condition was met
    condition: Mapping[str, Any] | None = None  # the condition met, and the event that met it
    event: SeenEvent | None = None


def event_name(condition: Mapping[str, Any]) -> str:
    """The event type a condition listens for."""
    return (
        FIELD_CHANGED if "field" in condition and "event" not in condition else condition["event"]
    )


def event_names(config: Mapping[str, Any]) -> set[str]:
    return {event_name(c) for c in config.get("conditions") or []}


def waits_for(config: Mapping[str, Any], kind: str, properties: Mapping[str, Any]) -> bool:
    """Whether an event of this kind could meet one of the wait's conditions (correlation
    is left to `verdict`, which knows the enrollment)."""
    for condition in config.get("conditions") or []:
        if event_name(condition) != kind:
            continue
        if kind == FIELD_CHANGED and properties.get("field") != condition.get("field"):
            continue
        return True
    return False


def verdict(
    config: Mapping[str, Any],
    waiting_since: datetime,
    now: datetime,
    events: Sequence[SeenEvent],
    zone: ZoneInfo,
    scope: Mapping[str, Any],
) -> WaitVerdict:
    """Met, timed out, or still waiting (and until when) as of `now`.

    `scope` is what `match` references may read: {"enrollment": {"id", "trigger", ...}}.
    """
    conditions = list(config.get("conditions") or [])
    deadlines = [
        add_duration(waiting_since, cached_duration(c["timeout"]), zone) for c in conditions
    ]
    for condition, deadline in zip(conditions, deadlines, strict=True):
        for event in events:
            if waiting_since <= event.occurred_at <= min(deadline, now) and meets(
                condition, event, scope
            ):
                reason = f"{event.type} at {event.occurred_at.isoformat()}"
                return WaitVerdict("met", None, reason, condition, event)
    last = max(deadlines, default=now)
    if now >= last:
        return WaitVerdict("timeout", None)
    return WaitVerdict(None, last)


def meets(condition: Mapping[str, Any], event: SeenEvent, scope: Mapping[str, Any]) -> bool:
    """Whether this event is one the condition names (type, field, this enrollment's email and
    link, properties, `match` references); timing is left to the caller. Shared with branch
    conditions (`app.core.conditions`)."""
    if event.type != event_name(condition):
        return False
    props = event.properties
    if event.type == FIELD_CHANGED:
        return props.get("field") == condition.get("field")
    if event.type in EMAIL_EVENTS:
        own = scope.get("enrollment", {}).get("id")
        if event.enrollment_id is not None and own is not None and event.enrollment_id != own:
            return False
        if props.get("email_step_id") != condition.get("email_step_id"):
            return False
        wanted = condition.get("link_url_contains")
        return not wanted or wanted in str(props.get("url") or "")
    for key, value in (condition.get("properties") or {}).items():
        if props.get(key) != value:
            return False
    for key, value in (condition.get("match") or {}).items():
        expected = resolve_reference(value, scope)
        if expected is None or props.get(key) != expected:
            return False
    return True


def resolve_reference(value: Any, scope: Mapping[str, Any]) -> Any:
    """`{{ a.b.c }}` looked up in `scope`; any other value is itself."""
    found = _REFERENCE.match(value) if isinstance(value, str) else None
    if found is None:
        return value
    node: Any = scope
    for part in found.group(1).split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node
