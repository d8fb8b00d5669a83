"""Goal matching: whether an event, or a contact's current fields, reach a sequence's goal.

Pure: no database, no clock. A goal's `when`:
- `field_change`: a `field_changed` event for `field` whose `to` equals `equals`, or (the
  monitor) the contact's current value of the field equals it. Equality is JSON equality:
  1, 1.0 and true are different values, as for the API's change detection.
- `url_visit`: a `page_viewed` event or a (human, tracked) `clicked_link` event whose
  `url` contains `url_contains`.
- `custom_event`: an event of that type.
Only events at or after the enrollment began count.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from app.core.conditions import lookup
from app.core.events import FIELD_CHANGED, URL_EVENTS


@dataclass(frozen=True)
class GoalEvent:
    """An event of the contact, as goals see it."""

    id: int | None
    type: str
    properties: Mapping[str, Any]
    occurred_at: datetime


@dataclass(frozen=True)
class Reached:
    """A goal reached, by this event (None: by the contact's current fields)."""

    goal: Mapping[str, Any]
    event: GoalEvent | None

    @property
    def name(self) -> str:
        return str(self.goal.get("name"))


def event_kinds(goals: Iterable[Mapping[str, Any]]) -> set[str]:
    """The event types that can reach these goals, to load or filter no others."""
    kinds: set[str] = set()
    for goal in goals:
        when = goal.get("when") or {}
        if when.get("type") == "field_change":
            kinds.add(FIELD_CHANGED)
        elif when.get("type") == "url_visit":
            kinds.update(URL_EVENTS)
        elif when.get("type") == "custom_event":
            kinds.add(str(when.get("event")))
    return kinds


def has_field_goals(goals: Iterable[Mapping[str, Any]]) -> bool:
    return any((goal.get("when") or {}).get("type") == "field_change" for goal in goals)


def json_equal(left: Any, right: Any) -> bool:
    return json.dumps(left, sort_keys=True) == json.dumps(right, sort_keys=True)


def matches_event(when: Mapping[str, Any], event: GoalEvent) -> bool:
    props = event.properties
    kind = when.get("type")
    if kind == "field_change":
        return (
            event.type == FIELD_CHANGED
            and props.get("field") == when.get("field")
            and "to" in props
            and json_equal(props["to"], when.get("equals"))
        )
    if kind == "url_visit":
        wanted = str(when.get("url_contains") or "")
        return event.type in URL_EVENTS and bool(wanted) and wanted in str(props.get("url") or "")
    if kind == "custom_event":
        return event.type == when.get("event")
    return False


def matches_fields(when: Mapping[str, Any], fields: Mapping[str, Any]) -> bool:
    """A field goal whose field holds the value now (the monitor's check); a field the
    contact does not have holds no value, not even null."""
    if when.get("type") != "field_change":
        return False
    value = lookup(fields, str(when.get("field")))
    return value is not None and json_equal(value, when.get("equals"))


def reached(
    goals: Sequence[Mapping[str, Any]],
    events: Iterable[GoalEvent],
    since: datetime,
    fields: Mapping[str, Any] | None = None,
) -> list[Reached]:
    """The goals reached, in definition order: each by its first event at or after `since`,
    else (when `fields` is given) a field goal by the contact's current value."""
    ordered = sorted((e for e in events if e.occurred_at >= since), key=lambda e: e.occurred_at)
    found = []
    for goal in goals:
        when = goal.get("when") or {}
        event = next((e for e in ordered if matches_event(when, e)), None)
        if event is not None:
            found.append(Reached(goal, event))
        elif fields is not None and matches_fields(when, fields):
            found.append(Reached(goal, None))
    return found


def move_target(goal: Mapping[str, Any]) -> str | None:
    """The sequence a `move_to_sequence` goal sends the contact to; None for `exit`."""
    action = goal.get("action") or {}
    return str(action["sequence"]) if action.get("type") == "move_to_sequence" else None


def exit_reason(goal: Mapping[str, Any]) -> str:
    """Why the enrollment ended, as the enrollments page shows it."""
    reason = f"goal '{goal.get('name')}' reached"
    target = move_target(goal)
    return f"{reason}; moved to sequence '{target}'" if target else reason
