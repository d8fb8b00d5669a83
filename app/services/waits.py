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

from sqlalchemy import select, update

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
    by_contact: dict[uuid.UUID, list[tuple[str, Mapping[str, Any]]]] = {}
    for event in events:
        contact_id, kind, properties = _parts(event)
        by_contact.setdefault(contact_id, []).append((kind, properties))
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
    due = [
        row.id
        for row in waiting
        if any(
            waits_for(row.config or {}, kind, props) for kind, props in by_contact[row.contact_id]
        )
    ]
    if due:
        db.session.execute(
            update(ContactSequence)
            .where(ContactSequence.id.in_(due), ContactSequence.status == "active")
            .values(next_execution_at=now)
            .execution_options(synchronize_session=False)
        )
    return len(due)


def _parts(event: Mapping[str, Any] | Any) -> tuple[uuid.UUID, str, Mapping[str, Any]]:
    if isinstance(event, Mapping):
        return event["contact_id"], event["type"], event.get("properties") or {}
    return event.contact_id, event.type, event.properties or {}


def nudge_processor() -> None:
    """Run the processor now instead of at its next interval, so an event moves a waiting
    contact on within a second (app.services.wakeups: a deduplicated RQ job in worker mode,
    the scheduler thread in embedded mode)."""
    wakeups.wake(PROCESS_PASS)
