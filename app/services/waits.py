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
    """Make due now every enrollment waiting for one of these events; returns how many.

    `events` are ContactEvent rows or dicts with contact_id and type (and properties).
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
    if due:
        db.session.execute(make_due(due, now))
    return len(due)


Events = dict[uuid.UUID, list[tuple[str, Mapping[str, Any]]]]
"""Events by contact: (type, properties) each."""


def by_contact_of(events: Iterable[Mapping[str, Any] | Any]) -> Events:
    by_contact: Events = {}
    for event in events:
        contact_id, kind, properties = _parts(event)
        by_contact.setdefault(contact_id, []).append((kind, properties))
    return by_contact


def waiting_for(waiting: Iterable[Any], by_contact: Events) -> list[uuid.UUID]:
    """Of the enrollments at a wait (rows with id, contact_id and the step's config), those
    whose conditions name one of their contact's events."""
    return [
        row.id
        for row in waiting
        if any(
            waits_for(row.config or {}, kind, props)
            for kind, props in by_contact.get(row.contact_id, ())
        )
    ]


def make_due(enrollment_ids: list[uuid.UUID], now: datetime) -> Update:
    """The statement that makes these (still active) enrollments due at `now`."""
    return (
        update(ContactSequence)
        .where(ContactSequence.id.in_(enrollment_ids), ContactSequence.status == "active")
        .values(next_execution_at=now)
        .execution_options(synchronize_session=False)
    )


def _parts(event: Mapping[str, Any] | Any) -> tuple[uuid.UUID, str, Mapping[str, Any]]:
    if isinstance(event, Mapping):
        return event["contact_id"], event["type"], event.get("properties") or {}
    return event.contact_id, event.type, event.properties or {}


def nudge_processor() -> None:
    """Run the processor now instead of at its next interval, so an event moves a waiting
    contact on within a second (app.services.wakeups: a deduplicated RQ job in worker mode,
    the scheduler thread in embedded mode)."""
    wakeups.wake(PROCESS_PASS)
