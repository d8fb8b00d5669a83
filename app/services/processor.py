"""The sequence processor: claim due enrollments in batches, advance them, write results in bulk.

One transaction per batch. On PostgreSQL the claim is `FOR UPDATE SKIP LOCKED`, so any
number of workers share the work; the unique step log and outbox keys make a repeat
impossible even where locks are weaker (SQLite). The hot path issues a fixed number of
statements per batch, never one per enrollment.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from app.core import engine, timing, waits
from app.extensions import db
from app.mail.compose import make_message_id
from app.models import (
    Contact,
    ContactEvent,
    ContactSequence,
    OutboundMessage,
    Sequence,
    StepLog,
    Workspace,
)
from app.services.bulk import insert_rows, update_rows
from app.services.graphs import LoadedSequence, load_sequences
from app.services.links import sender_domain

log = logging.getLogger(__name__)

DEFAULT_BATCH_SIZE = 1000
# A batch that keeps colliding is a bug, not a race: stop instead of spinning.
MAX_LOST_RACES = 5


@dataclass
class ProcessorStats:
    batches: int = 0
    enrollments: int = 0
    steps: int = 0
    emails: int = 0
    completed: int = 0
    exited: int = 0
    failed: int = 0

    def add(self, other: ProcessorStats) -> None:
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name) + getattr(other, name))


def process_due(now: datetime, batch_size: int = DEFAULT_BATCH_SIZE) -> ProcessorStats:
    """Advance every enrollment due at `now`; returns what was done."""
    total = ProcessorStats()
    lost_races = 0
    while True:
        try:
            batch = _process_batch(now, batch_size)
        except IntegrityError:
            # Another processor recorded these steps first: its work stands, ours is void.
            db.session.rollback()
            lost_races += 1
            if lost_races > MAX_LOST_RACES:
                raise
            log.warning("processor batch lost a race and was rolled back; retrying")
            continue
        if batch.enrollments == 0:
            return total
        total.add(batch)


def _claim(now: datetime, batch_size: int) -> list[Any]:
    stmt = (
        select(
            ContactSequence.id,
            ContactSequence.tenant_id,
            ContactSequence.workspace_id,
            ContactSequence.sequence_id,
            ContactSequence.contact_id,
            ContactSequence.current_step_id,
            ContactSequence.step_started_at,
            ContactSequence.last_step_completed_at,
            ContactSequence.visits,
            ContactSequence.context_data,
            Sequence.version,
            Contact.email,
            Contact.timezone,
            Contact.fields,
            Workspace.timezone.label("workspace_timezone"),
        )
        .join(Sequence, Sequence.id == ContactSequence.sequence_id)
        .join(Contact, Contact.id == ContactSequence.contact_id)
        .join(Workspace, Workspace.id == ContactSequence.workspace_id)
        .where(
            ContactSequence.status == "active",
            ContactSequence.next_execution_at <= now,
            Sequence.status == "active",
        )
        .order_by(ContactSequence.next_execution_at)
        .limit(batch_size)
        .with_for_update(of=ContactSequence, skip_locked=True)
    )
    return list(db.session.execute(stmt))


def _process_batch(now: datetime, batch_size: int) -> ProcessorStats:
    stats = ProcessorStats()
    rows = _claim(now, batch_size)
    if not rows:
        db.session.rollback()
        return stats
    sequences = load_sequences({row.sequence_id: row.version for row in rows})
    events = _events_for_waits(rows, sequences)
    domain = sender_domain()
    logs: list[dict[str, Any]] = []
    messages: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []

    for row in rows:
        loaded = sequences[row.sequence_id]
        outcome = _advance(row, loaded, now, events.get(row.contact_id, []))
        logs += _log_rows(row, loaded, outcome, now)
        messages += _message_rows(row, loaded, outcome, now, domain)
        updates.append(_enrollment_update(row, loaded, outcome, now))
        stats.steps += len(outcome.taken)
        stats.emails += len(outcome.emails)
        stats.completed += outcome.status == "completed"
        stats.exited += outcome.status == "exited"
        stats.failed += outcome.status == "failed"

    insert_rows(StepLog.__table__, logs)
    insert_rows(OutboundMessage.__table__, messages)
    update_rows(ContactSequence.__table__, updates)
    db.session.commit()
    stats.batches, stats.enrollments = 1, len(rows)
    return stats


def _events_for_waits(
    rows: list[Any], sequences: dict[uuid.UUID, LoadedSequence]
) -> dict[uuid.UUID, list[waits.SeenEvent]]:
    """The events that waiting enrollments of this batch may be waiting for, in one query:
    only their contacts, only the event types their wait_until steps name, only since the
    earliest of those waits began."""
    contacts: set[uuid.UUID] = set()
    kinds: set[str] = set()
    since: datetime | None = None
    for row in rows:
        step_id = str(row.current_step_id) if row.current_step_id else None
        step = sequences[row.sequence_id].graph.steps.get(step_id) if step_id else None
        if step is None or step.type != "wait_until" or row.step_started_at is None:
            continue
        contacts.add(row.contact_id)
        kinds |= waits.event_names(step.config)
        since = row.step_started_at if since is None else min(since, row.step_started_at)
    if not contacts:
        return {}
    found: dict[uuid.UUID, list[waits.SeenEvent]] = {}
    stmt = select(
        ContactEvent.contact_id,
        ContactEvent.type,
        ContactEvent.properties,
        ContactEvent.occurred_at,
        ContactEvent.enrollment_id,
    ).where(
        ContactEvent.contact_id.in_(contacts),
        ContactEvent.type.in_(kinds),
        ContactEvent.occurred_at >= since,
    )
    for event in db.session.execute(stmt):
        enrollment = str(event.enrollment_id) if event.enrollment_id else None
        found.setdefault(event.contact_id, []).append(
            waits.SeenEvent(event.type, event.properties or {}, event.occurred_at, enrollment)
        )
    return found


def _advance(
    row: Any, loaded: LoadedSequence, now: datetime, events: list[waits.SeenEvent]
) -> engine.Outcome:
    """The engine's verdict for one claimed enrollment; a step it cannot run fails it."""
    zone = timing.resolve_zone(row.timezone, loaded.timezone, row.workspace_timezone).zone
    step_id = str(row.current_step_id) if row.current_step_id else None
    position = engine.Position(
        step_id,
        row.step_started_at,
        row.visits or {},
        zone,
        fields=row.fields or {},
        context=row.context_data or {},
        events=events,
        enrollment_id=str(row.id),
    )
    try:
        return engine.advance(loaded.graph, position, now)
    except engine.UnsupportedStepError as exc:
        return engine.failed(position, str(exc))
    except KeyError:
        return engine.failed(position, "step removed")


def _log_rows(
    row: Any, loaded: LoadedSequence, outcome: engine.Outcome, now: datetime
) -> list[dict[str, Any]]:
    return [
        {
            "tenant_id": row.tenant_id,
            "workspace_id": row.workspace_id,
            "enrollment_id": row.id,
            "sequence_id": row.sequence_id,
            "step_id": loaded.step_uuids[taken.step_id],
            "rotation": taken.rotation,
            "outcome": taken.outcome,
            "executed_at": now,
        }
        for taken in outcome.taken
    ]


def _message_rows(
    row: Any, loaded: LoadedSequence, outcome: engine.Outcome, now: datetime, domain: str
) -> list[dict[str, Any]]:
    """Outbox rows, queued in the same transaction as the step that produced them."""
    rows = []
    for email in outcome.emails:
        message_uuid = uuid.uuid4()
        rows.append(
            {
                "tenant_id": row.tenant_id,
                "workspace_id": row.workspace_id,
                "id": message_uuid,
                "enrollment_id": row.id,
                "sequence_id": row.sequence_id,
                "step_id": loaded.step_uuids[email.step_id],
                "contact_id": row.contact_id,
                "rotation": email.rotation,
                "message_id": make_message_id(message_uuid.hex, domain),
                "to_email": row.email,
                "status": "queued",
                "attempts": 0,
                "queued_at": now,
                "next_attempt_at": now,
                "send_window": email.send_window,
                "created_at": now,
                "updated_at": now,
            }
        )
    return rows


def _enrollment_update(
    row: Any, loaded: LoadedSequence, outcome: engine.Outcome, now: datetime
) -> dict[str, Any]:
    return {
        "id": row.id,
        "status": outcome.status,
        "current_step_id": loaded.step_uuids.get(outcome.step_id) if outcome.step_id else None,
        "step_started_at": outcome.waiting_since,
        "next_execution_at": outcome.next_execution_at,
        "last_step_completed_at": now if outcome.taken else row.last_step_completed_at,
        "finished_at": None if outcome.status == "active" else now,
        "visits": outcome.visits,
        "exit_reason": outcome.exit_reason,
        "updated_at": now,
    }
