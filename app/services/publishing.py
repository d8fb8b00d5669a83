"""Publishing a version of a sequence, and moving the contacts in flight onto it.

The step and connection rows of a published sequence are always its live version; the
version itself is also kept as an immutable snapshot (`sequence_versions`), which is what
runs left on an older version follow, what queued messages render from, and what the
history and diff read. Publishing claims the next number with one guarded UPDATE (of two
publishers that saw the same live version, the second gets PublishConflict), rewrites the
rows, snapshots them and applies the migration plan (app/core/migration_plan.py) in three
set-based statements, whatever the number of contacts: one INSERT ... SELECT into the
enrollments' history, one UPDATE for the runs that move onto the new version (kept, retimed,
moved), one UPDATE for the runs that exit. Runs told to stay keep their version.

Queued email rule: a message already queued is sent as it was queued, rendered from the
version that queued it (services/dispatcher.as_queued), unless the plan exits its run: then
it is skipped like any email queued before an exit.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import case, func, literal, null, or_, select, true, update

from app.core.format.document import SequenceDefinition
from app.core.format.parse import definition_to_dict
from app.core.format.problems import DefinitionError
from app.core.migration_plan import MigrationPlan, plan_migration
from app.extensions import db
from app.models import (
    ContactSequence,
    Sequence,
    SequenceStep,
    SequenceVersion,
)
from app.models.enrollment import record_changes
from app.services.sequences import snapshot_version, store_definition
from app.services.template_budget import check_definition
from app.services.versions import live_version

IN_FLIGHT = ("active", "paused")
"""Run statuses a publish moves; finished runs keep the version they ran on."""


class PublishConflict(Exception):
    """Another version was published since this writer read the live one."""

    def __init__(self, seen: int | None, current: int | None) -> None:
        super().__init__(
            f"version {current} was published since you read version {seen}; "
            "reload to see it and publish again"
        )
        self.seen, self.current = seen, current


class MigrationNeeded(DefinitionError):
    """Contacts are on steps the new version removes and no (valid) choice says where."""

    def __init__(self, plan: MigrationPlan) -> None:
        super().__init__(list(plan.problems))
        self.plan = plan


def contacts_on_steps(live: SequenceVersion) -> dict[str, int]:
    """Runs in flight on the live version, counted per step id, in one GROUP BY."""
    key_of = {row_id: key for key, row_id in live.step_ids.items()}
    stmt = (
        select(ContactSequence.current_step_id, func.count())
        .where(*_on_version(live.sequence_id, live.number))
        .group_by(ContactSequence.current_step_id)
    )
    counts: dict[str, int] = {}
    for step_id, count in db.session.execute(stmt):
        key = key_of.get(str(step_id))
        if key is not None:
            counts[key] = counts.get(key, 0) + count
    return counts


def plan_publish(
    sequence: Sequence, definition: SequenceDefinition, choices: Mapping[str, Any]
) -> MigrationPlan:
    """What publishing `definition` would do to the contacts in flight (nothing written)."""
    live = live_version(sequence)
    if live is None:
        return plan_migration({"steps": []}, definition_to_dict(definition), {}, choices)
    return _plan(live, definition, choices)


def _plan(
    live: SequenceVersion, definition: SequenceDefinition, choices: Mapping[str, Any]
) -> MigrationPlan:
    new = definition_to_dict(definition)
    return plan_migration(live.definition, new, contacts_on_steps(live), choices)


def publish(
    sequence: Sequence,
    definition: SequenceDefinition,
    choices: Mapping[str, Any],
    *,
    actor: str | None,
    note: str | None,
    now: datetime,
    seen: int | None = None,
) -> SequenceVersion:
    """Publish `definition` as the next version of a published sequence, in one transaction.
    MigrationNeeded (nothing written) when a removed step's contacts have no valid choice."""
    live = live_version(sequence)
    if live is None:
        raise PublishConflict(seen, None)
    current = live.number
    try:
        check_definition(definition)  # templates within the render budget, as on any save
        plan = _plan(live, definition, choices)
        if not plan.ready:
            raise MigrationNeeded(plan)
        _claim(sequence, seen if seen is not None else current)
        number = current + 1
        _retire(sequence, plan.diff.keys("removed"), definition, number)
        store_definition(sequence, definition)
        plan_rows = [entry.to_dict() for entry in plan.entries]
        version = snapshot_version(
            sequence, number, actor=actor, now=now, note=note, plan=plan_rows
        )
        db.session.add(version)
        db.session.flush()
        _migrate(sequence, plan, live, current, number, actor, now)
    except Exception:
        db.session.rollback()
        raise
    db.session.commit()
    return version


def _claim(sequence: Sequence, seen: int) -> None:
    """The next version number, if the live one is still the one the writer saw: the row
    lock orders concurrent publishers (and enrollments, which take it for their draws)."""
    table = Sequence.__table__
    claimed = db.session.execute(
        update(table)
        .where(table.c.id == sequence.id, table.c.published_version == seen)
        .values(published_version=seen + 1, version=table.c.version + 1)
        .returning(table.c.version)
    ).scalar()
    if claimed is None:
        found = select(table.c.published_version).where(table.c.id == sequence.id)
        current = db.session.scalar(found)
        raise PublishConflict(seen, current)
    db.session.expire(sequence, ["published_version", "version"])


def _retire(
    sequence: Sequence, removed: set[str], definition: SequenceDefinition, number: int
) -> None:
    """Removed steps become retired rows (runs that stay still point at them); a step id
    that comes back takes its retired row again."""
    table = SequenceStep.__table__
    if removed:
        db.session.execute(
            update(table)
            .where(table.c.sequence_id == sequence.id, table.c.key.in_(removed))
            .values(retired_in=number)
        )
    returning = {step.id for step in definition.steps} - removed
    db.session.execute(
        update(table)
        .where(
            table.c.sequence_id == sequence.id,
            table.c.key.in_(returning),
            table.c.retired_in.is_not(None),
        )
        .values(retired_in=None)
    )
    db.session.expire(sequence, ["steps"])


def _on_version(sequence_id: uuid.UUID, number: int) -> tuple[Any, ...]:
    """Runs in flight on a version (runs from before versions were kept count as on it)."""
    return (
        ContactSequence.sequence_id == sequence_id,
        ContactSequence.status.in_(IN_FLIGHT),
        or_(ContactSequence.version == number, ContactSequence.version.is_(None)),
    )


def _migrate(
    sequence: Sequence,
    plan: MigrationPlan,
    live: SequenceVersion,
    current: int,
    number: int,
    actor: str | None,
    now: datetime,
) -> None:
    """The plan in three statements: history, runs onto the new version, runs that exit."""
    old_ids = {key: uuid.UUID(row_id) for key, row_id in live.step_ids.items()}
    new_ids = {step.key: step.id for step in sequence.steps}
    moves = {old_ids[e.step]: new_ids[e.target] for e in plan.of("move") if e.target}
    exits = {old_ids[e.step]: e for e in plan.of("exit") if e.contacts}
    stays = {old_ids[e.step] for e in plan.of("stay")}
    retimed = {old_ids[e.step] for e in plan.of("retime")}
    step = ContactSequence.current_step_id
    on_version = _on_version(sequence.id, current)

    action = _case(
        [(step == sid, literal("move")) for sid in moves]
        + [(step == sid, literal("exit")) for sid in exits]
        + [(step == sid, literal("stay")) for sid in stays]
        + [(step == sid, literal("retime")) for sid in retimed],
        literal("keep"),
    )
    to_step = _case(
        [(step == sid, literal(_key(new_ids, tid))) for sid, tid in moves.items()]
        + [(step == sid, null()) for sid in exits],
        SequenceStep.key,
    )
    to_version = _case(
        [(step == sid, null()) for sid in exits]
        + [(step == sid, literal(current)) for sid in stays],
        literal(number),
    )
    history = (
        select(
            ContactSequence.tenant_id,
            ContactSequence.workspace_id,
            ContactSequence.id.label("enrollment_id"),
            ContactSequence.sequence_id,
            literal("version_migration").label("kind"),
            action.label("action"),
            literal(current).label("from_version"),
            to_version.label("to_version"),
            SequenceStep.key.label("from_step"),
            to_step.label("to_step"),
            literal(actor).label("actor"),
            literal(now).label("created_at"),
        )
        .select_from(ContactSequence)
        .outerjoin(SequenceStep, SequenceStep.id == step)
        .where(*on_version)
    )
    db.session.execute(record_changes(history))
    leaving = list(set(exits) | stays)
    moved_or_retimed = list(moves) + list(retimed)
    table = ContactSequence.__table__
    here = table.c.current_step_id
    db.session.execute(
        update(table)
        .where(*on_version, or_(here.is_(None), here.not_in(leaving)) if leaving else true())
        .values(
            version=number,
            current_step_id=_case([(here == s, literal(t)) for s, t in moves.items()], here),
            step_started_at=_case(
                [(here.in_(list(moves)), null())] if moves else [], table.c.step_started_at
            ),
            next_execution_at=_case(
                [(here.in_(moved_or_retimed), literal(now))] if moved_or_retimed else [],
                table.c.next_execution_at,
            ),
            updated_at=now,
        )
    )
    if exits:
        reasons = [(here == s, literal(_exit_reason(e.label, number))) for s, e in exits.items()]
        db.session.execute(
            update(table)
            .where(*on_version, here.in_(list(exits)))
            .values(
                status="exited",
                exit_reason=_case(reasons, null()),
                finished_at=now,
                next_execution_at=None,
                updated_at=now,
            )
        )


def _case(whens: list[tuple[Any, Any]], otherwise: Any) -> Any:
    """CASE WHEN ... ELSE otherwise END, or just `otherwise` when there is no WHEN."""
    return case(*whens, else_=otherwise) if whens else otherwise


def _key(ids: Mapping[str, uuid.UUID], row_id: uuid.UUID) -> str:
    return next(key for key, value in ids.items() if value == row_id)


def _exit_reason(label: str, number: int) -> str:
    return f"{label} was removed in version {number}"
