"""Operators' interventions on enrollments, each kept in the audit log: pause, resume, skip
the current wait, move to a step, exit, send a failed email again.

Every action takes a selection (one id, a list, or a filter's SELECT of ids) and is
set-based in one transaction, whatever its size: the selected enrollments it cannot apply
to are counted by why (one GROUP BY), the ones it applies to get their audit row in
`enrollment_changes` (one INSERT ... SELECT, which on PostgreSQL locks them, so the guarded
UPDATE that follows changes exactly the rows recorded), then that UPDATE. The selection is
always narrowed to the workspace, so another workspace's ids change nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Integer,
    Select,
    String,
    Text,
    and_,
    case,
    exists,
    func,
    literal,
    null,
    or_,
    select,
    type_coerce,
    update,
)
from sqlalchemy.orm import aliased

from app.core.steps import WAITING_STEP_TYPES
from app.extensions import db
from app.models import ContactSequence, OutboundMessage, Sequence, SequenceStep
from app.models.enrollment import exited, record_changes
from app.models.message import RESENDABLE, requeued
from app.models.types import UTCDateTime
from app.services.send_failures import failure_reason
from app.services.waits import nudge_processor

Selection = Select[Any] | Collection[uuid.UUID]
"""Which enrollments: a SELECT of `ContactSequence.id` (a filter's), or ids."""

MAX_REASON = 500
LIVE = ("active", "paused")
NOT_WAITING = "not waiting on a delay or wait_until step"
NOTHING_TO_RESEND = "without a failed email"
SEND_FAILED = failure_reason("%", None, "%")
"""What `exit_reason` reads when a run ended because one of its emails failed (a LIKE)."""

CS = ContactSequence


@dataclass(frozen=True)
class Applied:
    """How many enrollments the action changed (or, forecast, would change), and how many
    it skipped, by why (a status such as "completed", or a reason such as NOT_WAITING)."""

    changed: int
    skipped: dict[str, int] = field(default_factory=dict)


class UnknownStep(ValueError):
    """A move names a step that is not in the sequence's live version."""

    def __init__(self, key: str, retired_in: int | None = None) -> None:
        where = f"was removed in version {retired_in}" if retired_in else "is not in the sequence"
        super().__init__(f"step '{key}' {where}; pick a step of the live version")
        self.key = key


@dataclass(frozen=True)
class _Plan:
    """What an action writes, and to which runs: those in `statuses` that meet
    `condition` (the others in `statuses` are skipped as `otherwise`)."""

    name: str
    statuses: tuple[str, ...]
    values: dict[str, Any]
    condition: ColumnElement[bool] | None = None
    otherwise: str | None = None
    to_step: Any = None  # the audit row's: default the run's current step
    to_version: Any = None  # default the run's version
    nudge: bool = False  # the runs are due now: wake the processor in worker mode

    @property
    def guard(self) -> ColumnElement[bool]:
        found = CS.status.in_(self.statuses)
        return found if self.condition is None else and_(found, self.condition)


def pause(
    workspace_id: uuid.UUID, selection: Selection, actor: str, reason: str | None, now: datetime
) -> Applied:
    """Active runs stop where they stand: the processor claims only active runs and the
    dispatcher holds their queued emails until they resume. Their due time is kept."""
    return _apply(workspace_id, selection, _pause(), actor, reason, now)


def resume(
    workspace_id: uuid.UUID, selection: Selection, actor: str, reason: str | None, now: datetime
) -> Applied:
    """Paused runs go on: due now if their due time passed while paused, else when it
    was; their held emails go out with the next dispatch."""
    return _apply(workspace_id, selection, _resume(now), actor, reason, now)


def skip_wait(
    workspace_id: uuid.UUID, selection: Selection, actor: str, reason: str | None, now: datetime
) -> Applied:
    """Active runs on a delay or wait_until step are due now, with `skip_wait` set: the
    processor's next pass ends that wait at once (the step is taken as `skipped`)."""
    return _apply(workspace_id, selection, _skip_wait(now), actor, reason, now)


def move(
    workspace_id: uuid.UUID,
    selection: Selection,
    actor: str,
    reason: str | None,
    now: datetime,
    *,
    step_key: str,
) -> Applied:
    """Active or paused runs go to the step `step_key` of their sequence's live version,
    active and due now (its wait starts now); a run finishing on an older version moves
    onto the live one. Runs whose sequence has no such live step are skipped, and so are
    finished runs: re-enrolling is the way to start one again."""
    return _apply(workspace_id, selection, _move(now, step_key), actor, reason, now)


def exit_runs(
    workspace_id: uuid.UUID,
    selection: Selection,
    actor: str,
    reason: str | None,
    now: datetime,
    exit_reason: str | None = None,
) -> Applied:
    """Active or paused runs end `exited`; the dispatcher skips the emails they had queued.
    `exit_reason` is what the run shows (default: who removed it, and why)."""
    shown = exit_reason or f"removed by {actor}" + (f": {reason}" if reason else "")
    return _apply(workspace_id, selection, _exit(now, shown), actor, reason, now)


def resend(
    workspace_id: uuid.UUID, selection: Selection, actor: str, reason: str | None, now: datetime
) -> Applied:
    """The runs' failed (or interrupted, `unknown`) emails are queued again, as fresh sends
    (like the outbox's "Send again"). A run that had ended `failed` because an email could
    not be sent comes back: active again on the step it had reached, whose wait starts
    over now (so the next email keeps its spacing after the one sent again), or completed
    again when it had already passed its last step. Exited runs are skipped: the
    dispatcher would not send their mail."""
    plan = _resend()
    chosen = _chosen(workspace_id, selection)
    _, skipped = _tally(chosen, plan)
    changed = _record(chosen, plan, actor, reason, now)
    ended_here = CS.current_step_id.is_(None)
    db.session.execute(
        update(CS)
        .where(chosen, plan.guard, CS.status == "failed", CS.exit_reason.like(SEND_FAILED))
        .values(
            status=case((ended_here, "completed"), else_="active"),
            exit_reason=None,
            finished_at=case((ended_here, CS.finished_at), else_=None),
            step_started_at=case((ended_here, None), else_=_at(now)),
            next_execution_at=case((ended_here, None), else_=_at(now)),
            updated_at=_at(now),
        )
        .execution_options(synchronize_session=False)
    )
    runs = select(CS.id).where(chosen, CS.status.in_(plan.statuses))
    db.session.execute(
        update(OutboundMessage)
        .where(OutboundMessage.enrollment_id.in_(runs), OutboundMessage.status.in_(RESENDABLE))
        .values(requeued(now))
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    if changed:
        nudge_processor()
    return Applied(changed, skipped)


ACTIONS = ("pause", "resume", "skip_wait", "move", "exit", "resend")


def apply(
    action: str,
    workspace_id: uuid.UUID,
    selection: Selection,
    actor: str,
    reason: str | None,
    now: datetime,
    step_key: str | None = None,
) -> Applied:
    """`action` by name (one of ACTIONS; `move` needs `step_key`), as the pages ask for it."""
    if action == "move":
        return move(workspace_id, selection, actor, reason, now, step_key=step_key or "")
    run = {
        "pause": pause,
        "resume": resume,
        "skip_wait": skip_wait,
        "exit": exit_runs,
        "resend": resend,
    }[action]
    return run(workspace_id, selection, actor, reason, now)


def forecast(
    workspace_id: uuid.UUID,
    selection: Selection,
    action: str,
    now: datetime,
    step_key: str | None = None,
) -> Applied:
    """What `action` would do to the selection now, without doing it (one GROUP BY): the
    preview of a bulk intervention."""
    plans = {
        "pause": _pause,
        "resume": lambda: _resume(now),
        "skip_wait": lambda: _skip_wait(now),
        "move": lambda: _move(now, step_key or ""),
        "exit": lambda: _exit(now, ""),
        "resend": _resend,
    }
    return Applied(*_tally(_chosen(workspace_id, selection), plans[action]()))


def _pause() -> _Plan:
    return _Plan("pause", ("active",), {"status": "paused"})


def _resume(now: datetime) -> _Plan:
    overdue = or_(CS.next_execution_at.is_(None), CS.next_execution_at < _at(now))
    values = {
        "status": "active",
        "next_execution_at": case((overdue, _at(now)), else_=CS.next_execution_at),
    }
    return _Plan("resume", ("paused",), values, nudge=True)


def _skip_wait(now: datetime) -> _Plan:
    waiting = (
        exists()
        .where(SequenceStep.id == CS.current_step_id, SequenceStep.type.in_(WAITING_STEP_TYPES))
        .correlate(CS)
    )
    values = {"skip_wait": True, "next_execution_at": _at(now)}
    return _Plan("skip_wait", ("active",), values, waiting, NOT_WAITING, nudge=True)


def _move(now: datetime, step_key: str) -> _Plan:
    target = (
        select(SequenceStep.id)
        .where(
            SequenceStep.sequence_id == CS.sequence_id,
            SequenceStep.key == step_key,
            SequenceStep.retired_in.is_(None),
        )
        .correlate(CS)
        .scalar_subquery()
    )
    live = (
        select(Sequence.published_version)
        .where(Sequence.id == CS.sequence_id)
        .correlate(CS)
        .scalar_subquery()
    )
    values = {
        "status": "active",
        "current_step_id": target,
        "step_started_at": _at(now),
        "next_execution_at": _at(now),
        "hold_reason": None,
        "skip_wait": False,
        "version": live,
    }
    return _Plan(
        "move",
        LIVE,
        values,
        target.is_not(None),
        f"its sequence has no live step '{step_key}'",
        to_step=literal(step_key, String()),
        to_version=live,
        nudge=True,
    )


def _exit(now: datetime, shown: str) -> _Plan:
    return _Plan("exit", LIVE, exited(shown, now), to_step=null())


def _resend() -> _Plan:
    resendable = (
        exists()
        .where(OutboundMessage.enrollment_id == CS.id, OutboundMessage.status.in_(RESENDABLE))
        .correlate(CS)
    )
    first_email = (
        select(func.min(SequenceStep.key))
        .join(OutboundMessage, OutboundMessage.step_id == SequenceStep.id)
        .where(OutboundMessage.enrollment_id == CS.id, OutboundMessage.status.in_(RESENDABLE))
        .correlate(CS)
        .scalar_subquery()
    )
    statuses = ("active", "paused", "completed", "failed")
    return _Plan("resend", statuses, {}, resendable, NOTHING_TO_RESEND, to_step=first_email)


def _apply(
    workspace_id: uuid.UUID,
    selection: Selection,
    plan: _Plan,
    actor: str,
    reason: str | None,
    now: datetime,
) -> Applied:
    """The plan's three statements (count the skipped, record, update), committed."""
    chosen = _chosen(workspace_id, selection)
    _, skipped = _tally(chosen, plan)
    _record(chosen, plan, actor, reason, now)
    changed = db.session.execute(
        update(CS)
        .where(chosen, plan.guard)
        .values({**plan.values, "updated_at": _at(now)})
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.commit()
    if changed and plan.nudge:
        nudge_processor()
    return Applied(changed, skipped)


@dataclass(frozen=True)
class Options:
    """What an operator may do to one enrollment now, for its buttons."""

    steps: list[tuple[str, str]]  # (key, label) of the live version's steps, in order
    waiting: bool  # active, on a delay or wait_until step
    resendable: int  # its failed or unknown emails


def options_for(enrollment: ContactSequence) -> Options:
    """The live steps it may be moved to, whether its wait may be skipped and how many
    failed emails it may send again: two queries."""
    rows = _live_rows(enrollment.sequence_id)
    current = next((row for row in rows if row.id == enrollment.current_step_id), None)
    resendable = db.session.scalar(
        select(func.count()).where(
            OutboundMessage.enrollment_id == enrollment.id, OutboundMessage.status.in_(RESENDABLE)
        )
    )
    return Options(
        [(row.key, row.name or row.key) for row in rows],
        enrollment.status == "active"
        and current is not None
        and current.type in WAITING_STEP_TYPES,
        int(resendable or 0),
    )


def live_steps(sequence_id: uuid.UUID) -> list[tuple[str, str]]:
    """(key, label) of the steps of the sequence's live version, in the author's order:
    where a move may go."""
    return [(row.key, row.name or row.key) for row in _live_rows(sequence_id)]


def _live_rows(sequence_id: uuid.UUID) -> list[Any]:
    return list(
        db.session.execute(
            select(SequenceStep.id, SequenceStep.key, SequenceStep.name, SequenceStep.type)
            .where(SequenceStep.sequence_id == sequence_id, SequenceStep.retired_in.is_(None))
            .order_by(SequenceStep.sort_order, SequenceStep.key)
        )
    )


def move_target_problem(sequence_id: uuid.UUID, step_key: str) -> UnknownStep | None:
    """Why a move to `step_key` cannot be made in this sequence (unknown, or retired in a
    version), or None when it is a step of its live version."""
    found = db.session.execute(
        select(SequenceStep.retired_in)
        .where(SequenceStep.sequence_id == sequence_id, SequenceStep.key == step_key)
        .order_by(SequenceStep.retired_in.is_not(None))
        .limit(1)
    ).first()
    if found is None:
        return UnknownStep(step_key)
    return UnknownStep(step_key, found.retired_in) if found.retired_in else None


def _chosen(workspace_id: uuid.UUID, selection: Selection) -> ColumnElement[bool]:
    """The selection narrowed to the workspace. A SELECT is never correlated with the
    statement it is used in (both read contact_sequences)."""
    ids = selection.correlate(None) if isinstance(selection, Select) else list(selection)
    return and_(CS.workspace_id == workspace_id, CS.id.in_(ids))


def _tally(chosen: ColumnElement[bool], plan: _Plan) -> tuple[int, dict[str, int]]:
    """How many selected runs the plan applies to, and the others by why (their status,
    or `otherwise` for those in a status it applies to that fail its condition): one
    GROUP BY."""
    guard = plan.guard
    applies = case((guard, True), else_=False).label("applies")
    rows = db.session.execute(
        select(CS.status, applies, func.count()).where(chosen).group_by(CS.status, applies)
    )
    count, skipped = 0, dict[str, int]()
    for status, ok, n in rows:
        if ok:
            count += n
            continue
        why = plan.otherwise if status in plan.statuses and plan.otherwise else status
        skipped[why] = skipped.get(why, 0) + n
    return count, skipped


def _record(
    chosen: ColumnElement[bool], plan: _Plan, actor: str, reason: str | None, now: datetime
) -> int:
    """One audit row per run the action applies to (INSERT ... SELECT; on PostgreSQL the
    rows are locked until the commit); returns how many."""
    current = aliased(SequenceStep)  # not to be correlated with the action's subqueries
    rows = (
        select(
            CS.tenant_id,
            CS.workspace_id,
            CS.id.label("enrollment_id"),
            CS.sequence_id,
            literal("intervention", String()).label("kind"),
            literal(plan.name, String()).label("action"),
            CS.version.label("from_version"),
            (
                CS.version if plan.to_version is None else type_coerce(plan.to_version, Integer())
            ).label("to_version"),
            current.key.label("from_step"),
            (current.key if plan.to_step is None else type_coerce(plan.to_step, String())).label(
                "to_step"
            ),
            literal(reason or None, Text()).label("detail"),
            literal(actor, String()).label("actor"),
            _at(now).label("created_at"),
        )
        .select_from(CS)
        .outerjoin(current, current.id == CS.current_step_id)
        .where(chosen, plan.guard)
        .with_for_update(of=CS)
    )
    return db.session.execute(
        record_changes(rows).execution_options(preserve_rowcount=True)
    ).rowcount


def _at(now: datetime) -> Any:
    """`now` as a bound UTC timestamp (stored naive on SQLite, like every UTCDateTime)."""
    return literal(now, UTCDateTime())
