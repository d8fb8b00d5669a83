"""Waking the enrollments that wait for an event, the moment it arrives.

No scan of every enrollment: only the active enrollments of the contacts the events are
about (an indexed lookup) whose current step is a wait_until, and of those only the ones
whose conditions name the event, are made due now. The processor then decides, with the
events in hand, whether the wait is met; a wake-up that turns out not to match (another
cart's checkout) just goes back to sleep until its timeout.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Update, select, update

from app.core.waits import waits_for
from app.extensions import db
from app.models import ContactSequence, SequenceStep
from app.services import wakeups

PROCESS_PASS = "process_sequences"
"""The processor's pass, by name: services.scheduling imports this module's callers."""


def wake_for_events(
    workspace_id: uuid.UUID, events: Iterable[Mapping[str, Any] | Any], now: datetime
) -> int:
    """Make due every enrollment waiting for one of these events (`make_due`); returns how
    many. `events` are ContactEvent rows or dicts with contact_id and type (and properties,
    recorded_at).
    The caller commits; call `nudge_processor()` after the commit.
    """
    by_contact = by_contact_of(events)
    if not by_contact:
        return 0
    waiting = db.session.execute(
        select(ContactSequence.id, ContactSequence.contact_id, SequenceStep.config)
        .join(SequenceStep, SequenceStep.id == ContactSequence.current_step_id)
        .where(
            ContactSequence.workspace_id == workspace_id,
            ContactSequence.contact_id.in_(by_contact),
            ContactSequence.status == "active",
            SequenceStep.type == "wait_until",
        )
    )
    due = waiting_for(waiting, by_contact)
    for statement in make_due(due, now):
        db.session.execute(statement)
    return len(due)


Events = dict[uuid.UUID, list[tuple[str, Mapping[str, Any], datetime | None]]]
"""Events by contact: (type, properties, when it was recorded if known) each."""


def by_contact_of(events: Iterable[Mapping[str, Any] | Any]) -> Events:
    by_contact: Events = {}
    for event in events:
        contact_id, kind, properties, recorded = _parts(event)
        by_contact.setdefault(contact_id, []).append((kind, properties, recorded))
    return by_contact


def waiting_for(waiting: Iterable[Any], by_contact: Events) -> dict[uuid.UUID, datetime | None]:
    """Of the enrollments at a wait (rows with id, contact_id and the step's config), those
    whose conditions name one of their contact's events, each with the latest recording
    time of those events (None: not known)."""
    due: dict[uuid.UUID, datetime | None] = {}
    for row in waiting:
        named = [
            recorded
            for kind, props, recorded in by_contact.get(row.contact_id, ())
            if waits_for(row.config or {}, kind, props)
        ]
        if named:
            due[row.id] = max((at for at in named if at is not None), default=None)
    return due


def make_due(due: Mapping[uuid.UUID, datetime | None], now: datetime) -> list[Update]:
    """The statements that make these (still active) enrollments due: at `now`, or at their
    event's recording when that came after `now` (a processor pass that began before the
    event arrived: woken at `now`, the wait would be decided without it and put back to
    sleep). One statement per distinct time: one, but in such a pass."""
    by_time: dict[datetime, list[uuid.UUID]] = {}
    for enrollment_id, recorded in due.items():
        at = max(now, recorded) if recorded is not None else now
        by_time.setdefault(at, []).append(enrollment_id)
    return [
        update(ContactSequence)
        .where(ContactSequence.id.in_(ids), ContactSequence.status == "active")
        .values(next_execution_at=at)
        .execution_options(synchronize_session=False)
        for at, ids in by_time.items()
    ]


def _parts(
    event: Mapping[str, Any] | Any,
) -> tuple[uuid.UUID, str, Mapping[str, Any], datetime | None]:
    if isinstance(event, Mapping):
        found = event["contact_id"], event["type"], event.get("properties") or {}
        return (*found, event.get("recorded_at"))
    found = event.contact_id, event.type, event.properties or {}
    return (*found, getattr(event, "recorded_at", None))


def nudge_processor() -> None:
    """Run the processor now instead of at its next interval, so an event moves a waiting
    contact on within a second (app.services.wakeups: a deduplicated RQ job in worker mode,
    the scheduler thread in embedded mode)."""
    wakeups.wake(PROCESS_PASS)
