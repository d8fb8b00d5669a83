"""Interventions on enrollments: each action changes only the runs its state allows, says
why it skipped the others, records an audit row (who, why, from where to where) for each
run it changed, and takes the same statements for a hundred runs as for one. SQLite and
PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import insert, select, update

from app.extensions import db
from app.models import (
    Contact,
    ContactSequence,
    EnrollmentChange,
    OutboundMessage,
    Sequence,
    SequenceStep,
    StepLog,
)
from app.services import accounts, interventions, sequences
from app.services.enrollment import Candidate, enroll_candidates
from app.services.processor import process_due
from app.services.send_failures import failure_reason
from tests.services.test_goals import journey
from tests.sql_statements import statements_sent

T0 = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
LATER = T0 + timedelta(hours=1)
ACTOR = "ops@acme.test"
CS = ContactSequence


class Running:
    """A workspace's Email 1 -> 3-day delay -> Email 2 sequence with `people` enrolled at
    T0 and processed: each run has queued Email 1 and waits on the delay."""

    def __init__(self, name: str, people: int) -> None:
        self.workspace = accounts.create_workspace(name)
        definition = sequences.parse_input(journey(name, []))
        self.sequence = sequences.create_sequence(self.workspace, definition)
        sequences.set_status(self.sequence, "activate", T0)
        self.ids = self.enroll([f"p{n}@{name.lower()}.test" for n in range(people)], T0)
        process_due(T0)

    def enroll(self, addresses: list[str], now: datetime) -> list[uuid.UUID]:
        owner = {"tenant_id": self.workspace.tenant_id, "workspace_id": self.workspace.id}
        rows = [
            {**owner, "id": uuid.uuid4(), "email": a, "fields": {}, "tags": []} for a in addresses
        ]
        db.session.execute(insert(Contact), rows)
        candidates = [Candidate(row["id"], row["email"], False) for row in rows]
        sequence = db.session.get(Sequence, self.sequence.id)
        enroll_candidates(sequence, candidates, now, "manual")
        contacts = [row["id"] for row in rows]
        return list(db.session.scalars(select(CS.id).where(CS.contact_id.in_(contacts))))

    def step(self, key: str) -> uuid.UUID:
        return db.session.scalar(
            select(SequenceStep.id).where(
                SequenceStep.sequence_id == self.sequence.id, SequenceStep.key == key
            )
        )

    def act(self, action: Callable[..., interventions.Applied], ids: Any, **kw: Any):
        return action(self.workspace.id, ids, ACTOR, "asked by support", LATER, **kw)


def run(enrollment_id: uuid.UUID) -> ContactSequence:
    db.session.expire_all()
    return db.session.get(CS, enrollment_id)


def set_status(enrollment_id: uuid.UUID, status: str, **values: Any) -> None:
    db.session.execute(update(CS).where(CS.id == enrollment_id).values(status=status, **values))
    db.session.commit()


def changes() -> list[EnrollmentChange]:
    db.session.expire_all()
    return list(db.session.scalars(select(EnrollmentChange).order_by(EnrollmentChange.id)))


def emailed(enrollment_id: uuid.UUID) -> list[str]:
    return list(
        db.session.scalars(
            select(SequenceStep.key)
            .join(OutboundMessage, OutboundMessage.step_id == SequenceStep.id)
            .where(OutboundMessage.enrollment_id == enrollment_id)
            .order_by(OutboundMessage.queued_at)
        )
    )


def test_pause_stops_only_active_runs_and_records_who_why_and_where(app):
    flow = Running("Acme", 3)
    active, done, paused = flow.ids
    set_status(done, "completed")
    set_status(paused, "paused")

    applied = flow.act(interventions.pause, flow.ids)

    assert applied.changed == 1
    assert applied.skipped == {"completed": 1, "paused": 1}
    assert run(active).status == "paused"
    assert run(active).next_execution_at == T0 + timedelta(days=3)  # its due time is kept
    [change] = changes()
    assert (change.enrollment_id, change.kind, change.action) == (active, "intervention", "pause")
    assert (change.actor, change.detail, change.created_at) == (ACTOR, "asked by support", LATER)
    assert (change.from_step, change.to_step) == ("wait_3d", "wait_3d")
    assert (change.from_version, change.to_version) == (1, 1)
    process_due(T0 + timedelta(days=4))
    assert emailed(active) == ["email_1"]  # the processor leaves a paused run alone


def test_resume_makes_an_overdue_run_due_now_and_keeps_a_due_time_still_ahead(app):
    flow = Running("Acme", 3)
    overdue, ahead, _active = flow.ids
    flow.act(interventions.pause, [overdue, ahead])
    set_status(overdue, "paused", next_execution_at=T0 - timedelta(minutes=5))

    applied = flow.act(interventions.resume, flow.ids)

    assert (applied.changed, applied.skipped) == (2, {"active": 1})
    assert (run(overdue).status, run(overdue).next_execution_at) == ("active", LATER)
    assert (run(ahead).status, run(ahead).next_execution_at) == ("active", T0 + timedelta(days=3))
    assert [c.action for c in changes()] == ["pause", "pause", "resume", "resume"]


def test_skip_wait_applies_only_to_active_runs_on_a_wait_and_the_processor_ends_it(app):
    flow = Running("Acme", 2)
    waiting, paused = flow.ids
    set_status(paused, "paused")
    [not_yet] = flow.enroll(["new@acme.test"], LATER)  # still on Email 1, never processed

    chosen = [waiting, paused, not_yet]
    foreseen = interventions.forecast(flow.workspace.id, chosen, "skip_wait", LATER)
    applied = flow.act(interventions.skip_wait, chosen)

    assert foreseen == applied  # the bulk preview's numbers

    assert applied.changed == 1
    assert applied.skipped == {"paused": 1, interventions.NOT_WAITING: 1}
    assert (run(waiting).skip_wait, run(waiting).next_execution_at) == (True, LATER)
    [change] = changes()
    assert (change.action, change.from_step, change.to_step) == ("skip_wait", "wait_3d", "wait_3d")

    process_due(LATER)

    assert emailed(waiting) == ["email_1", "email_2"]
    assert run(waiting).skip_wait is False and run(waiting).status == "completed"
    outcome = db.session.scalar(
        select(StepLog.outcome).where(
            StepLog.enrollment_id == waiting, StepLog.step_id == flow.step("wait_3d")
        )
    )
    assert outcome == "skipped"


def test_move_puts_live_runs_on_a_live_step_due_now_and_refuses_finished_ones(app):
    flow = Running("Acme", 3)
    active, paused, done = flow.ids
    set_status(paused, "paused", hold_reason="frequency cap")
    set_status(done, "completed", current_step_id=None)

    applied = flow.act(interventions.move, flow.ids, step_key="email_2")

    assert (applied.changed, applied.skipped) == (2, {"completed": 1})
    for moved in (active, paused):
        row = run(moved)
        assert (row.status, row.current_step_id) == ("active", flow.step("email_2"))
        assert row.step_started_at == row.next_execution_at == LATER
        assert row.hold_reason is None
    assert [(c.from_step, c.to_step, c.detail) for c in changes()] == [
        ("wait_3d", "email_2", "asked by support"),
        ("wait_3d", "email_2", "asked by support"),
    ]
    process_due(LATER)
    assert emailed(active) == ["email_1", "email_2"]


def test_a_move_to_an_unknown_or_retired_step_changes_nothing_and_names_the_step(app):
    flow = Running("Acme", 1)
    db.session.execute(
        update(SequenceStep).where(SequenceStep.id == flow.step("email_2")).values(retired_in=2)
    )
    db.session.commit()

    for key in ("nope", "email_2"):
        applied = flow.act(interventions.move, flow.ids, step_key=key)
        assert (applied.changed, applied.skipped) == (
            0,
            {f"its sequence has no live step '{key}'": 1},
        )
    assert str(interventions.move_target_problem(flow.sequence.id, "nope")) == (
        "step 'nope' is not in the sequence; pick a step of the live version"
    )
    assert str(interventions.move_target_problem(flow.sequence.id, "email_2")) == (
        "step 'email_2' was removed in version 2; pick a step of the live version"
    )
    assert interventions.move_target_problem(flow.sequence.id, "wait_3d") is None
    assert changes() == [] and run(flow.ids[0]).current_step_id == flow.step("wait_3d")


def test_exit_ends_live_runs_showing_who_and_why_and_records_it(app):
    flow = Running("Acme", 2)
    live, done = flow.ids
    set_status(done, "exited", exit_reason="goal reached")

    applied = flow.act(interventions.exit_runs, flow.ids)

    assert (applied.changed, applied.skipped) == (1, {"exited": 1})
    row = run(live)
    assert (row.status, row.finished_at, row.next_execution_at) == ("exited", LATER, None)
    assert row.exit_reason == "removed by ops@acme.test: asked by support"
    assert run(done).exit_reason == "goal reached"
    [change] = changes()
    assert (change.action, change.from_step, change.to_step) == ("exit", "wait_3d", None)


def test_resend_queues_failed_emails_again_and_brings_back_the_run_the_failure_ended(app):
    flow = Running("Acme", 4)
    ended, exited, fine, interrupted = flow.ids
    db.session.execute(
        update(OutboundMessage)
        .where(OutboundMessage.enrollment_id.in_([ended, exited]))
        .values(status="failed", attempts=5, last_error="550 mailbox unavailable")
    )
    db.session.execute(
        update(OutboundMessage)
        .where(OutboundMessage.enrollment_id == interrupted)
        .values(status="unknown", attempts=1)
    )
    reason = failure_reason("Acme 1", "email_1", "550 mailbox unavailable")
    set_status(ended, "failed", exit_reason=reason, finished_at=T0, next_execution_at=None)
    set_status(exited, "exited", exit_reason="unsubscribed")

    applied = flow.act(interventions.resend, flow.ids)

    assert applied.changed == 2
    assert applied.skipped == {"exited": 1, interventions.NOTHING_TO_RESEND: 1}
    db.session.expire_all()
    rows = db.session.execute(select(OutboundMessage.enrollment_id, OutboundMessage.status))
    statuses = {enrollment_id: status for enrollment_id, status in rows}
    assert statuses == {ended: "queued", exited: "failed", fine: "queued", interrupted: "queued"}
    again = db.session.scalar(select(OutboundMessage).where(OutboundMessage.enrollment_id == ended))
    assert (again.attempts, again.next_attempt_at, again.last_error) == (0, LATER, None)
    row = run(ended)  # active again on its delay, which starts over from the email sent again
    assert (row.status, row.exit_reason, row.finished_at) == ("active", None, None)
    assert row.step_started_at == row.next_execution_at == LATER
    assert run(interrupted).status == "active"
    recorded = sorted((c.enrollment_id, c.action, c.to_step, c.detail) for c in changes())
    assert recorded == sorted(
        [
            (ended, "resend", "email_1", "asked by support"),
            (interrupted, "resend", "email_1", "asked by support"),
        ]
    )


def test_a_run_completed_before_its_last_email_failed_is_completed_again_on_resend(app):
    flow = Running("Acme", 1)
    [done] = flow.ids
    db.session.execute(update(OutboundMessage).values(status="failed"))
    reason = failure_reason("Acme 1", "email_1", "550")
    set_status(done, "failed", exit_reason=reason, finished_at=T0, current_step_id=None)

    assert flow.act(interventions.resend, [done]).changed == 1

    row = run(done)
    assert (row.status, row.finished_at, row.next_execution_at) == ("completed", T0, None)


def test_another_workspaces_runs_are_never_touched_whatever_the_selection(app):
    flow, other = Running("Acme", 1), Running("Globex", 1)
    theirs = select(CS.id).where(CS.sequence_id == other.sequence.id)

    for selection in (other.ids, theirs):
        for action in (interventions.pause, interventions.exit_runs, interventions.skip_wait):
            assert flow.act(action, selection) == interventions.Applied(0, {})

    assert run(other.ids[0]).status == "active" and changes() == []


def test_a_filters_select_is_a_selection_narrowed_to_the_workspace(app):
    flow = Running("Acme", 3)
    chosen = select(CS.id).where(CS.sequence_id == flow.sequence.id, CS.id != flow.ids[0])

    assert interventions.forecast(flow.workspace.id, chosen, "pause", LATER).changed == 2
    assert flow.act(interventions.pause, chosen).changed == 2
    assert [run(i).status for i in flow.ids] == ["active", "paused", "paused"]


def statements(action: Callable[[], Any]) -> list[str]:
    with statements_sent() as sent:
        action()
    return sent


def test_each_action_takes_the_same_statements_for_a_hundred_runs_as_for_one(app):
    one, hundred = Running("One", 1), Running("Hundred", 100)
    actions = [
        (interventions.pause, {}),
        (interventions.resume, {}),
        (interventions.skip_wait, {}),
        (interventions.move, {"step_key": "email_2"}),
        (interventions.resend, {}),
        (interventions.exit_runs, {}),
    ]
    db.session.execute(update(OutboundMessage).values(status="failed"))
    db.session.commit()
    for action, kw in actions:
        small = statements(lambda: one.act(action, one.ids, **kw))  # noqa: B023
        large = statements(lambda: hundred.act(action, hundred.ids, **kw))  # noqa: B023
        assert len(small) == len(large) <= 5, (action.__name__, small)
    assert len([c for c in changes() if c.enrollment_id in set(hundred.ids)]) == 600
