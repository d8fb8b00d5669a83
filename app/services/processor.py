"""The sequence processor: claim due enrollments in batches, advance them, write results in bulk.

One transaction per batch. On PostgreSQL the claim is `FOR UPDATE SKIP LOCKED`, so any
number of workers share the work; the unique step log and outbox keys make a repeat
impossible even where locks are weaker (SQLite). The hot path issues a fixed number of
statements per batch, never one per enrollment.

Action steps come back from the engine as effects: tag and field changes are replayed on
the contacts as stored, under a row lock, and written with one bulk UPDATE; field changes
are recorded as `field_changed` events through `contact_changes.record_events`, which
commits the batch, so waits and goals on a field react whoever changed it. Moves to
another sequence enroll the contacts there after the batch's own commit, one call per
target.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from app.core import engine, frequency, timing, waits
from app.extensions import db
from app.mail.compose import make_message_id
from app.models import (
    Contact,
    ContactEvent,
    ContactSequence,
    OutboundCall,
    OutboundMessage,
    Segment,
    SegmentMembership,
    Sequence,
    StepLog,
    Workspace,
)
from app.models.types import unless_empty
from app.services.ab_tests import ab_winners
from app.services.bulk import insert_rows, update_rows
from app.services.contact_changes import field_changed, record_events
from app.services.goals import record_conversions
from app.services.graphs import LoadedSequence, load_sequences, load_versions
from app.services.links import sender_domain
from app.services.moves import Move, move_contacts

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
    calls: int = 0
    completed: int = 0
    exited: int = 0
    failed: int = 0
    moved: int = 0

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
            unless_empty(ContactSequence.visits, {}),
            unless_empty(ContactSequence.context_data, {}),
            ContactSequence.enrolled_at,
            ContactSequence.runs,
            ContactSequence.holdout,
            ContactSequence.draw,
            ContactSequence.skip_wait,
            ContactSequence.version.label("run_version"),
            Sequence.version,
            Sequence.published_version,
            Sequence.name.label("sequence_name"),
            Contact.email,
            Contact.timezone,
            unless_empty(Contact.fields, {}),
            unless_empty(Contact.tags, []),
            Workspace.timezone.label("workspace_timezone"),
            Workspace.frequency_cap,
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
    sequences = _graphs_for_batch(rows)
    graphs = [sequences[_graph_key(row)] for row in rows]
    events = _events_for_batch(rows, graphs, now)
    segments = _segments_for_batch(rows, graphs)
    winners = ab_winners({row.sequence_id for row in rows})
    counted = _capped_sends(rows, now)
    domain = sender_domain()
    logs: list[dict[str, Any]] = []
    messages: list[dict[str, Any]] = []
    calls: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    # The contact as this batch has left it (tags, fields), for contacts with effects, and
    # the effects in order, replayed on the stored values when they are written.
    contacts: dict[uuid.UUID, tuple[list[str], dict[str, Any]]] = {}
    effects: dict[uuid.UUID, list[engine.Effect]] = {}
    field_events: list[dict[str, Any]] = []
    conversions: list[dict[str, Any]] = []
    moves: list[Move] = []

    zones: dict[tuple[str | None, ...], ZoneInfo] = {}
    for row, loaded in zip(rows, graphs, strict=True):
        tags, fields = contacts.get(row.contact_id) or (list(row.tags or []), row.fields or {})
        outcome = _advance(
            row,
            loaded,
            now,
            events.get(row.contact_id, []),
            tags,
            fields,
            segments.get(row.contact_id, frozenset()),
            winners.get(row.sequence_id, {}),
            counted.get(row.contact_id),
            zones,
        )
        if outcome.emails and row.contact_id in counted:  # seen by the contact's next rows
            counted[row.contact_id] += [now] * len(outcome.emails)
        if outcome.effects:
            contacts[row.contact_id] = engine.apply_effects(outcome.effects, tags, fields)
            effects.setdefault(row.contact_id, []).extend(outcome.effects)
            field_events += _field_events(row, loaded, outcome, fields, now)
            reason = f"moved from {row.sequence_name}"
            moves += [
                Move(row.id, row.workspace_id, row.contact_id, e.sequence, reason)
                for e in outcome.effects
                if e.sequence is not None
            ]
        logs += _log_rows(row, loaded, outcome, now)
        messages += _message_rows(row, loaded, outcome, now, domain)
        calls += _call_rows(row, loaded, outcome, now)
        conversions += _conversion_rows(row, loaded, outcome, now)
        updates.append(_enrollment_update(row, loaded, outcome, now))
        stats.steps += len(outcome.taken)
        stats.emails += len(outcome.emails)
        stats.calls += len(outcome.calls)
        stats.completed += outcome.status == "completed"
        stats.exited += outcome.status == "exited"
        stats.failed += outcome.status == "failed"

    insert_rows(StepLog.__table__, logs)
    insert_rows(OutboundMessage.__table__, messages)
    insert_rows(OutboundCall.__table__, calls)
    record_conversions(conversions)
    update_rows(ContactSequence.__table__, updates)
    _write_contact_effects(effects, now)

    def move(_stored: list[dict[str, Any]]) -> None:
        """Moves enroll elsewhere once the batch is committed, before goals and segments react."""
        stats.moved = move_contacts(moves, now)

    changed = _changed_contacts(rows, effects)
    record_events(field_events, now, changed=changed, after_commit=move)
    stats.batches, stats.enrollments = 1, len(rows)
    return stats


CAP_LOOKBACK = timedelta(days=8)
"""How far back a frequency cap looks: a local calendar week, and a day's slack for zones."""
CAPPED_STATUSES = ("queued", "claimed", "sending", "sent", "captured", "unknown")
"""Messages a frequency cap counts: sent, or on their way (not skipped, not failed)."""


def _capped_sends(rows: list[Any], now: datetime) -> dict[uuid.UUID, list[datetime]]:
    """When each contact under a frequency cap got (or is getting) emails lately, from every
    sequence of the workspace, in one query; none at all when no workspace has a cap."""
    contacts = {row.contact_id for row in rows if row.frequency_cap}
    if not contacts:
        return {}
    found: dict[uuid.UUID, list[datetime]] = {contact: [] for contact in contacts}
    stmt = select(OutboundMessage.contact_id, OutboundMessage.queued_at).where(
        OutboundMessage.contact_id.in_(contacts),
        OutboundMessage.queued_at > now - CAP_LOOKBACK,
        OutboundMessage.status.in_(CAPPED_STATUSES),
    )
    for contact_id, queued_at in db.session.execute(stmt):
        found[contact_id].append(queued_at)
    return found


GraphKey = tuple[uuid.UUID, int | None]


def _graph_key(row: Any) -> GraphKey:
    """The graph a claimed run follows: its sequence's live graph (None), or the published
    version it was left to finish on when a newer one went live."""
    old = row.run_version is not None and row.run_version != row.published_version
    return (row.sequence_id, row.run_version if old else None)


def _graphs_for_batch(rows: list[Any]) -> dict[GraphKey, LoadedSequence]:
    """Live graphs from the step rows (cached per edit version), older versions from their
    snapshots (cached for good): at most 2 queries each, for the whole batch."""
    live = load_sequences({row.sequence_id: row.version for row in rows})
    graphs: dict[GraphKey, LoadedSequence] = {(seq_id, None): g for seq_id, g in live.items()}
    older = {key for key in map(_graph_key, rows) if key[1] is not None}
    for (seq_id, number), loaded in load_versions((s, n) for s, n in older if n).items():
        graphs[(seq_id, number)] = loaded
    return graphs


def _changed_contacts(
    rows: list[Any], effects: dict[uuid.UUID, list[engine.Effect]]
) -> dict[uuid.UUID, set[uuid.UUID]]:
    """The contacts whose tags or fields the batch's actions changed, by workspace: they
    may convert goals or join segments."""
    workspaces = {row.contact_id: row.workspace_id for row in rows}
    by_workspace: dict[uuid.UUID, set[uuid.UUID]] = {}
    for contact_id in effects:
        by_workspace.setdefault(workspaces[contact_id], set()).add(contact_id)
    return by_workspace


def _write_contact_effects(effects: dict[uuid.UUID, list[engine.Effect]], now: datetime) -> None:
    """One bulk UPDATE of the changed contacts (their field changes are recorded as events
    by the caller, through `record_events`).

    The effects are replayed on the contacts as stored now, read with a row lock (the API's
    PATCH takes the same lock), so a tag or field changed since the claim is not lost."""
    changed = []
    stored = db.session.execute(
        select(Contact.id, Contact.tags, Contact.fields)
        .where(Contact.id.in_(effects))
        .order_by(Contact.id)  # one lock order for every worker: no deadlocks between them
        .with_for_update()
    )
    for contact_id, old_tags, old_fields in stored:
        tags, fields = list(old_tags or []), dict(old_fields or {})
        new_tags, new_fields = engine.apply_effects(effects[contact_id], tags, fields)
        if new_tags != tags or new_fields != fields:
            changed.append(
                {"id": contact_id, "tags": new_tags, "fields": new_fields, "updated_at": now}
            )
    update_rows(Contact.__table__, changed)


def _field_events(
    row: Any,
    loaded: LoadedSequence,
    outcome: engine.Outcome,
    fields: dict[str, Any],
    now: datetime,
) -> list[dict[str, Any]]:
    """`field_changed` rows for the values update_field actions really changed."""
    return [
        field_changed(
            row,
            row.contact_id,
            change.field,
            change.old,
            change.new,
            now,
            "engine",
            enrollment_id=row.id,
            step_id=loaded.step_uuids.get(change.step_id),
        )
        for change in engine.field_changes(outcome.effects, fields)
    ]


def _events_for_batch(
    rows: list[Any], graphs: list[LoadedSequence], now: datetime
) -> dict[uuid.UUID, list[waits.SeenEvent]]:
    """The events this batch's waits and branches may read, in one query: only the
    contacts concerned, only the event types their steps name, only since the earliest
    moment any of them looks back to.

    A waiting enrollment reads events since its wait began. A branch may be reached in
    this pass after other steps, so every enrollment whose graph has an event condition
    reads events within the graph's longest lookback (or since it enrolled, for a
    condition without one)."""
    contacts: set[uuid.UUID] = set()
    kinds: set[str] = set()
    starts: list[datetime] = []
    for row, loaded in zip(rows, graphs, strict=True):
        graph = loaded.graph
        step_id = str(row.current_step_id) if row.current_step_id else None
        step = graph.steps.get(step_id) if step_id else None
        awaited = step.kind.awaited_events if step is not None and step.kind else None
        if step is not None and awaited is not None and row.step_started_at is not None:
            contacts.add(row.contact_id)
            kinds |= awaited(step.config)
            starts.append(row.step_started_at)
        needs = graph.needs
        if needs.event_kinds:
            contacts.add(row.contact_id)
            kinds |= needs.event_kinds
            if needs.lookback is not None:
                starts.append(now - needs.lookback)
            if needs.since_enrollment:
                starts.append(row.enrolled_at)
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
        ContactEvent.occurred_at >= min(starts),
        ContactEvent.occurred_at <= now,
    )
    for event in db.session.execute(stmt):
        enrollment = str(event.enrollment_id) if event.enrollment_id else None
        found.setdefault(event.contact_id, []).append(
            waits.SeenEvent(event.type, event.properties or {}, event.occurred_at, enrollment)
        )
    return found


def _segments_for_batch(
    rows: list[Any], graphs: list[LoadedSequence]
) -> dict[uuid.UUID, frozenset[str]]:
    """Segment names of the contacts whose graphs test segments, in one query (none at all
    when no graph of the batch does)."""
    contacts = {
        row.contact_id
        for row, loaded in zip(rows, graphs, strict=True)
        if loaded.graph.needs.segments
    }
    if not contacts:
        return {}
    found: dict[uuid.UUID, set[str]] = {}
    stmt = (
        select(SegmentMembership.contact_id, Segment.name)
        .join(Segment, Segment.id == SegmentMembership.segment_id)
        .where(SegmentMembership.contact_id.in_(contacts))
    )
    for contact_id, name in db.session.execute(stmt):
        found.setdefault(contact_id, set()).add(name)
    return {contact_id: frozenset(names) for contact_id, names in found.items()}


def _advance(
    row: Any,
    loaded: LoadedSequence,
    now: datetime,
    events: list[waits.SeenEvent],
    tags: Iterable[str] = (),
    fields: dict[str, Any] | None = None,
    segments: frozenset[str] = frozenset(),
    winners: dict[str, str] | None = None,
    counted: list[datetime] | None = None,
    zones: dict[tuple[str | None, ...], ZoneInfo] | None = None,
) -> engine.Outcome:
    """The engine's verdict for one claimed enrollment; a step it cannot run fails it, and
    so does a step no longer in the sequence (removed while the contact was on it).
    `zones` caches the zone resolved per (contact, sequence, workspace) zone names."""
    names = (row.timezone, loaded.timezone, row.workspace_timezone)
    zone = zones.get(names) if zones is not None else None
    if zone is None:
        zone = timing.resolve_zone(*names).zone
        if zones is not None:
            zones[names] = zone
    step_id = str(row.current_step_id) if row.current_step_id else None
    position = engine.Position(
        step_id,
        row.step_started_at,
        row.visits or {},
        zone,
        fields=fields if fields is not None else row.fields or {},
        context=row.context_data or {},
        events=events,
        enrollment_id=str(row.id),
        tags=frozenset(tags),
        segments=segments,
        enrolled_at=row.enrolled_at,
        draw=row.draw,
        holdout=row.holdout,
        winners=winners or {},
        allowance=(
            frequency.allowance(row.frequency_cap, counted, now, zone)
            if row.frequency_cap and counted is not None
            else None
        ),
        skip_wait=row.skip_wait,
    )
    if step_id is not None and loaded.graph.steps.get(step_id) is None:
        return engine.failed(position, "step removed")
    try:
        return engine.advance(loaded.graph, position, now)
    except engine.UnsupportedStepError as exc:
        return engine.failed(position, str(exc))


def _log_rows(
    row: Any, loaded: LoadedSequence, outcome: engine.Outcome, now: datetime
) -> list[dict[str, Any]]:
    """One row per step taken; a step that asked for an outside call says so in `detail`,
    which the call delivery job then keeps up to date (status, codes, attempts), and a
    step that chose a path keeps there the values it decided on."""
    calls = {(call.step_id, call.rotation): call.kind for call in outcome.calls}
    return [
        {
            "tenant_id": row.tenant_id,
            "workspace_id": row.workspace_id,
            "enrollment_id": row.id,
            "sequence_id": row.sequence_id,
            "step_id": loaded.step_uuids[taken.step_id],
            "rotation": taken.rotation,
            "outcome": taken.outcome,
            "variant": taken.variant,
            "detail": _detail(calls.get((taken.step_id, taken.rotation)), taken.decision),
            "executed_at": now,
        }
        for taken in outcome.taken
    ]


def _detail(kind: str | None, decision: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """A step log's detail: the outside call it asked for, and why it chose its path."""
    detail: dict[str, Any] = {}
    if kind is not None:
        detail["call"] = {"kind": kind, "status": "queued", "attempts": 0}
    if decision is not None:
        detail["decision"] = decision
    return detail or None


def _call_rows(
    row: Any, loaded: LoadedSequence, outcome: engine.Outcome, now: datetime
) -> list[dict[str, Any]]:
    """Call ledger rows, recorded in the same transaction as the steps that asked for them;
    unique per (enrollment, step, rotation), so a replayed step never records a second."""
    return [
        {
            "tenant_id": row.tenant_id,
            "workspace_id": row.workspace_id,
            "id": uuid.uuid4(),
            "enrollment_id": row.id,
            "sequence_id": row.sequence_id,
            "step_id": loaded.step_uuids[call.step_id],
            "contact_id": row.contact_id,
            "rotation": call.rotation,
            "kind": call.kind,
            "status": "queued",
            "attempts": 0,
            "queued_at": now,
            "next_attempt_at": now,
            "history": [],
            "created_at": now,
            "updated_at": now,
        }
        for call in outcome.calls
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
                "variant_key": email.variant,
                "sequence_version": row.run_version,
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


def _conversion_rows(
    row: Any, loaded: LoadedSequence, outcome: engine.Outcome, now: datetime
) -> list[dict[str, Any]]:
    """Conversions of the goal steps taken, at those steps (recorded once per run)."""
    return [
        {
            "tenant_id": row.tenant_id,
            "workspace_id": row.workspace_id,
            "enrollment_id": row.id,
            "sequence_id": row.sequence_id,
            "contact_id": row.contact_id,
            "run": row.runs,
            "goal": reached.goal,
            "step_id": loaded.step_uuids[reached.step_id],
            "source": "goal_step",
            "event_id": None,
            "converted_at": now,
        }
        for reached in outcome.conversions
    ]


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
        "hold_reason": outcome.hold_reason,
        "skip_wait": False,  # an operator's skip is used by this pass
        "updated_at": now,
    }
