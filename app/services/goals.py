"""Goals: record conversions and run each goal's action (exit, or move to another sequence).

Two ways in, both set-based:
- `check_events`, called by `reactions.after_change` the moment events are recorded: the
  active (or paused) enrollments of the events' contacts in sequences with goals are
  locked in id order, matched in Python (`app.core.goals`), conversions inserted in bulk
  and the exits written by one bulk update.
- `monitor`, the periodic goal monitor: walks those enrollments in batches and catches
  what no event announced (a field set by an import) or what an event missed (a failed
  reaction): field goals against the contact's current fields, event goals against the
  events since enrollment.

A conversion is recorded once per enrollment run and goal (UNIQUE(enrollment_id, run,
goal); the insert ignores the conflict, so a second matching event records nothing more),
with the step the contact was on. When a goal is reached its own action runs, listed in
`exit.goals` or not: `exit` ends the enrollment, `move_to_sequence` ends it and enrolls
the contact in the named sequence of the workspace, after the commit. Mail already queued
for an enrollment that exits is skipped by the dispatcher.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite

from app.core import goals as rules
from app.extensions import db
from app.models import Contact, ContactEvent, ContactSequence, Conversion, Sequence
from app.models.enrollment import exited
from app.services.bulk import update_rows
from app.services.moves import Move, move_contacts

DEFAULT_BATCH_SIZE = 1000
INSERT_CHUNK = 500  # rows per INSERT ... VALUES: well inside any bind-parameter limit
LIVE = ("active", "paused")  # enrollments and sequences goals still apply to


@dataclass(frozen=True)
class _Sequence:
    id: uuid.UUID
    name: str
    goals: list[dict[str, Any]]


def check_events(
    workspace_id: uuid.UUID, events: Iterable[Mapping[str, Any]], now: datetime
) -> int:
    """Convert the goals these just-recorded events reach; commits and returns how many
    conversions were recorded. `events` are dicts (see `reactions.event_dict`)."""
    found = [e for e in events if e.get("contact_id") is not None]
    sequences = _sequences_with_goals(workspace_id) if found else {}
    kinds = rules.event_kinds(g for s in sequences.values() for g in s.goals)
    by_contact: dict[uuid.UUID, list[rules.GoalEvent]] = {}
    for event in found:
        if event["type"] in kinds:
            by_contact.setdefault(event["contact_id"], []).append(_goal_event(event))
    if not by_contact:
        return 0
    rows = db.session.execute(
        _enrollments()
        .where(
            ContactSequence.workspace_id == workspace_id,
            ContactSequence.contact_id.in_(by_contact),
            ContactSequence.sequence_id.in_(sequences),
        )
        .with_for_update(of=ContactSequence)
    ).all()
    return _convert(rows, sequences, by_contact, {}, "event", now)


def monitor(now: datetime, batch: int = DEFAULT_BATCH_SIZE) -> int:
    """The goal monitor: every live enrollment in a sequence with goals, in batches of
    `batch` (a fixed number of queries each, one commit each); returns the conversions."""
    sequences = _sequences_with_goals(None)
    total, after = 0, None
    while sequences:
        stmt = (
            _enrollments()
            .add_columns(Contact.fields)
            .join(Contact, Contact.id == ContactSequence.contact_id)
            .where(ContactSequence.sequence_id.in_(sequences))
            .limit(batch)
            # a row the processor or an event check holds is caught at the next run
            .with_for_update(of=ContactSequence, skip_locked=True)
        )
        if after is not None:
            stmt = stmt.where(ContactSequence.id > after)
        rows = db.session.execute(stmt).all()
        if not rows:
            db.session.rollback()
            break
        fields = {row.contact_id: row.fields or {} for row in rows}
        events = _events_since(rows, sequences, now)
        total += _convert(rows, sequences, events, fields, "monitor", now)
        after = rows[-1].id
        if len(rows) < batch:
            break
    return total


def record_conversions(rows: list[dict[str, Any]]) -> int:
    """Insert conversion rows, ignoring any already recorded for that enrollment run and
    goal; inside the caller's transaction. Returns how many were new."""
    if not rows:
        return 0
    dialect = postgresql if db.session.get_bind().dialect.name == "postgresql" else sqlite
    recorded = 0
    for start in range(0, len(rows), INSERT_CHUNK):
        stmt = (
            dialect.insert(Conversion.__table__)
            .values(rows[start : start + INSERT_CHUNK])
            .on_conflict_do_nothing(index_elements=["enrollment_id", "run", "goal"])
            .returning(Conversion.__table__.c.id)
        )
        recorded += len(db.session.execute(stmt).all())
    return recorded


def _sequences_with_goals(workspace_id: uuid.UUID | None) -> dict[uuid.UUID, _Sequence]:
    """Live sequences (of one workspace, or all for the monitor) that define goals."""
    stmt = select(Sequence.id, Sequence.name, Sequence.goals_config).where(
        Sequence.status.in_(LIVE)
    )
    if workspace_id is not None:
        stmt = stmt.where(Sequence.workspace_id == workspace_id)
    return {
        seq_id: _Sequence(seq_id, name, list(goals))
        for seq_id, name, goals in db.session.execute(stmt)
        if goals
    }


def _enrollments() -> Any:
    """Live enrollments, in id order: one lock order for every writer, so no deadlocks."""
    return (
        select(
            ContactSequence.id,
            ContactSequence.tenant_id,
            ContactSequence.workspace_id,
            ContactSequence.sequence_id,
            ContactSequence.contact_id,
            ContactSequence.current_step_id,
            ContactSequence.enrolled_at,
            ContactSequence.runs,
        )
        .where(ContactSequence.status.in_(LIVE))
        .order_by(ContactSequence.id)
    )


def _events_since(
    rows: list[Any], sequences: dict[uuid.UUID, _Sequence], now: datetime
) -> dict[uuid.UUID, list[rules.GoalEvent]]:
    """The batch's contacts' events that url and custom-event goals name, since the
    earliest enrollment of the batch, in one query (field goals read the fields instead)."""
    kinds = rules.event_kinds(
        goal
        for seq_id in {row.sequence_id for row in rows}
        for goal in sequences[seq_id].goals
        if (goal.get("when") or {}).get("type") != "field_change"
    )
    if not kinds:
        return {}
    found: dict[uuid.UUID, list[rules.GoalEvent]] = {}
    stmt = select(
        ContactEvent.id,
        ContactEvent.contact_id,
        ContactEvent.type,
        ContactEvent.properties,
        ContactEvent.occurred_at,
    ).where(
        ContactEvent.contact_id.in_({row.contact_id for row in rows}),
        ContactEvent.type.in_(kinds),
        ContactEvent.occurred_at >= min(row.enrolled_at for row in rows),
        ContactEvent.occurred_at <= now,
    )
    for event_id, contact_id, kind, properties, occurred_at in db.session.execute(stmt):
        found.setdefault(contact_id, []).append(
            rules.GoalEvent(event_id, kind, properties or {}, occurred_at)
        )
    return found


def _convert(
    rows: list[Any],
    sequences: dict[uuid.UUID, _Sequence],
    events: dict[uuid.UUID, list[rules.GoalEvent]],
    fields: dict[uuid.UUID, dict[str, Any]],
    source: str,
    now: datetime,
) -> int:
    """Match the locked enrollments, record their conversions, end those that reached a
    goal (the first goal reached, in definition order, decides the action), commit, then
    move. Field goals are checked against `fields` only for the contacts it holds."""
    conversions: list[dict[str, Any]] = []
    exits: list[dict[str, Any]] = []
    moves: list[Move] = []
    for row in rows:
        sequence = sequences[row.sequence_id]
        seen, current = events.get(row.contact_id, ()), fields.get(row.contact_id)
        got = rules.reached(sequence.goals, seen, row.enrolled_at, current)
        if not got:
            continue
        conversions += [_conversion_row(row, hit, source, now) for hit in got]
        first = got[0].goal
        exits.append({"id": row.id, **exited(rules.exit_reason(first), now)})
        target = rules.move_target(first)
        if target is not None:
            reason = f"goal '{first.get('name')}' in {sequence.name}"
            moves.append(Move(row.id, row.workspace_id, row.contact_id, target, reason))
    recorded = record_conversions(conversions)
    update_rows(ContactSequence.__table__, exits)
    db.session.commit()
    move_contacts(moves, now)
    return recorded


def _conversion_row(row: Any, hit: rules.Reached, source: str, now: datetime) -> dict[str, Any]:
    return {
        "tenant_id": row.tenant_id,
        "workspace_id": row.workspace_id,
        "enrollment_id": row.id,
        "sequence_id": row.sequence_id,
        "contact_id": row.contact_id,
        "run": row.runs,
        "goal": hit.name,
        "step_id": row.current_step_id,
        "source": source,
        "event_id": hit.event.id if hit.event else None,
        "converted_at": hit.event.occurred_at if hit.event else now,
    }


def _goal_event(event: Mapping[str, Any]) -> rules.GoalEvent:
    return rules.GoalEvent(
        event.get("id"), event["type"], event.get("properties") or {}, event["occurred_at"]
    )
