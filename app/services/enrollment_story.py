"""One enrollment's full story for the operator: its runs and, per run, every step taken
(with the values each decision saw), email, event, goal and outside change, in order.

A fixed number of queries whatever the story's length (nine), never one per entry; each
list is capped at its newest rows, and the cap is said on the page. The words are made by
the pure `app.core.story`.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from app.core import story
from app.core.events import CLICKED_LINK, OPENED
from app.core.timing import resolve_zone
from app.extensions import db
from app.models import (
    Contact,
    ContactEvent,
    ContactSequence,
    Conversion,
    EnrollmentChange,
    OutboundMessage,
    Sequence,
    SequenceStep,
    StepLog,
    Workspace,
)
from app.services.enrollment import earlier_runs, waiting_reason

MAX_STEPS = 1000
MAX_EMAILS = 200
MAX_EVENTS = 300
MAX_CHANGES = 200
UNKNOWN_STEP = story.StepInfo(key="(deleted step)", name=None, type="")


@dataclass(frozen=True)
class Story:
    """What the page and the API show: the enrollment's row (as `list_enrollments` gives
    it, for `enrollment_to_dict` and `waiting_reason`), its runs newest first, the contact's
    zone, and why it waits now."""

    row: Any
    history: list[Any]
    runs: list[story.RunStory]
    zone: ZoneInfo
    waiting: str | None
    current_step: story.StepInfo | None
    truncated: bool

    @property
    def enrollment(self) -> ContactSequence:
        return self.row.ContactSequence


def enrollment_story(workspace_id: uuid.UUID, enrollment_id: uuid.UUID) -> Story | None:
    """The story of the workspace's enrollment; None when it is not this workspace's."""
    row = _header(workspace_id, enrollment_id)
    if row is None:
        return None
    enrollment: ContactSequence = row.ContactSequence
    zone = resolve_zone(
        row.contact_timezone, (row.sequence_settings or {}).get("timezone"), row.workspace_timezone
    ).zone
    history = earlier_runs([enrollment.id])[enrollment.id]
    steps = _steps(enrollment.sequence_id)
    names = {s.key: s.name for s in steps.values() if s.name}
    runs = [_run_info(run, current=False) for run in history]
    runs.append(_run_info(enrollment, current=True))
    first_start = min(run.enrolled_at for run in runs)

    logs = _step_logs(enrollment.id)
    emails = _emails(enrollment.id)
    events = _events(enrollment.contact_id, first_start)
    entries = [
        *_run_entries(runs, zone),
        *_step_entries(logs, steps, names, runs, zone),
        *_email_entries(emails, _engagement(enrollment.id), steps, zone),
        *[_event_entry(e, names) for e in events],
        *_goal_entries(enrollment.id, steps),
        *_change_entries(enrollment.id, names),
    ]
    current = steps.get(enrollment.current_step_id) if enrollment.current_step_id else None
    waiting = waiting_reason(row)
    if waiting and enrollment.status == "active":
        entries.append(_waiting_entry(enrollment, current, waiting))
    truncated = len(logs) >= MAX_STEPS or len(emails) >= MAX_EMAILS or len(events) >= MAX_EVENTS
    return Story(row, history, story.arrange(runs, entries), zone, waiting, current, truncated)


def _header(workspace_id: uuid.UUID, enrollment_id: uuid.UUID) -> Any:
    """The enrollment with its contact, sequence, workspace and current step: the columns
    of `list_enrollments`, so the same `enrollment_to_dict` and `waiting_reason` read it."""
    stmt = (
        select(
            ContactSequence,
            Contact.email,
            Contact.timezone.label("contact_timezone"),
            SequenceStep.key.label("step_key"),
            SequenceStep.name.label("step_name"),
            SequenceStep.type.label("step_type"),
            SequenceStep.config.label("step_config"),
            Sequence.name.label("sequence_name"),
            Sequence.settings.label("sequence_settings"),
            Workspace.timezone.label("workspace_timezone"),
        )
        .join(Contact, Contact.id == ContactSequence.contact_id)
        .join(Sequence, Sequence.id == ContactSequence.sequence_id)
        .join(Workspace, Workspace.id == ContactSequence.workspace_id)
        .outerjoin(SequenceStep, SequenceStep.id == ContactSequence.current_step_id)
        .where(ContactSequence.workspace_id == workspace_id, ContactSequence.id == enrollment_id)
    )
    return db.session.execute(stmt).first()


def _steps(sequence_id: uuid.UUID) -> dict[uuid.UUID, story.StepInfo]:
    """Every step row of the sequence, retired ones too (older runs went through them)."""
    rows = db.session.execute(
        select(
            SequenceStep.id,
            SequenceStep.key,
            SequenceStep.name,
            SequenceStep.type,
            SequenceStep.retired_in,
        ).where(SequenceStep.sequence_id == sequence_id)
    )
    return {r.id: story.StepInfo(r.key, r.name, r.type, r.retired_in) for r in rows}


def _run_info(run: Any, current: bool) -> story.RunInfo:
    number = run.runs if current else run.run
    return story.RunInfo(
        number,
        run.status,
        run.enrolled_at,
        run.finished_at,
        run.enroll_reason,
        run.exit_reason,
        current,
    )


def _newest(stmt: Any, order: Any, cap: int) -> list[Any]:
    """The newest `cap` rows of a query, oldest first."""
    return list(reversed(list(db.session.execute(stmt.order_by(*order).limit(cap)))))


def _step_logs(enrollment_id: uuid.UUID) -> list[Any]:
    stmt = select(
        StepLog.step_id, StepLog.rotation, StepLog.outcome, StepLog.detail, StepLog.executed_at
    ).where(StepLog.enrollment_id == enrollment_id)
    return _newest(stmt, (StepLog.executed_at.desc(), StepLog.id.desc()), MAX_STEPS)


def _emails(enrollment_id: uuid.UUID) -> list[Any]:
    stmt = select(
        OutboundMessage.id,
        OutboundMessage.step_id,
        OutboundMessage.subject,
        OutboundMessage.status,
        OutboundMessage.variant_key,
        OutboundMessage.queued_at,
        OutboundMessage.sent_at,
        OutboundMessage.last_error,
        OutboundMessage.to_email,
    ).where(OutboundMessage.enrollment_id == enrollment_id)
    return _newest(stmt, (OutboundMessage.queued_at.desc(), OutboundMessage.id), MAX_EMAILS)


def _engagement(enrollment_id: uuid.UUID) -> dict[tuple[uuid.UUID, str], tuple[int, datetime]]:
    """Opens and clicks per message of this enrollment (count, latest), in one query."""
    messages = select(OutboundMessage.id).where(OutboundMessage.enrollment_id == enrollment_id)
    rows = db.session.execute(
        select(
            ContactEvent.message_id,
            ContactEvent.type,
            func.count(),
            func.max(ContactEvent.occurred_at),
        )
        .where(
            ContactEvent.message_id.in_(messages),
            ContactEvent.type.in_((OPENED, CLICKED_LINK)),
        )
        .group_by(ContactEvent.message_id, ContactEvent.type)
    )
    return {(message, kind): (count, latest) for message, kind, count, latest in rows}


def _events(contact_id: uuid.UUID, since: datetime) -> list[Any]:
    stmt = select(
        ContactEvent.id,
        ContactEvent.type,
        ContactEvent.properties,
        ContactEvent.occurred_at,
        ContactEvent.source,
    ).where(ContactEvent.contact_id == contact_id, ContactEvent.occurred_at >= since)
    return _newest(stmt, (ContactEvent.occurred_at.desc(), ContactEvent.id.desc()), MAX_EVENTS)


def _run_entries(runs: list[story.RunInfo], zone: ZoneInfo) -> list[story.Entry]:
    found = []
    for run in runs:
        reason = f": {run.enroll_reason}" if run.enroll_reason else ""
        found.append(
            story.Entry(
                run.enrolled_at,
                "enrolled",
                f"Enrolled (run {run.number}){reason}",
                {"run": run.number},
                run.number,
            )
        )
        if run.finished_at is not None:
            ended = f": {run.exit_reason}" if run.exit_reason else ""
            found.append(
                story.Entry(
                    run.finished_at,
                    "finished",
                    f"Run {run.number} {run.status}{ended}",
                    {"status": run.status, "reason": run.exit_reason},
                    run.number,
                )
            )
    return found


def _step_entries(
    logs: list[Any],
    steps: dict[uuid.UUID, story.StepInfo],
    names: dict[str, str],
    runs: list[story.RunInfo],
    zone: ZoneInfo,
) -> list[story.Entry]:
    """Each step taken; a waiting step also says when it was entered: when the step before
    it in the same run was taken, or when the run began."""
    starts = sorted(run.enrolled_at for run in runs)
    found, previous = [], None
    for log in logs:
        step = steps.get(log.step_id, UNKNOWN_STEP)
        begun = max((s for s in starts if s <= log.executed_at), default=None)
        entered = (
            previous if previous is not None and begun is not None and previous >= begun else begun
        )
        decision = (log.detail or {}).get("decision")
        facts: dict[str, Any] = {
            "step": step.key,
            "step_name": step.name,
            "step_type": step.type,
            "retired_in": step.retired_in,
            "outcome": log.outcome,
            "rotation": log.rotation,
            "entered_at": entered.isoformat() if entered else None,
        }
        if decision:
            facts["decision"] = decision
            text = story.decision_text(step, log.outcome, decision, names, entered, zone)
            found.append(story.Entry(log.executed_at, "decision", text, facts))
        else:
            text = story.step_text(step, log.outcome, entered, zone)
            found.append(story.Entry(log.executed_at, "step", text, facts))
        previous = log.executed_at
    return found


def _email_entries(
    emails: list[Any],
    engagement: dict[tuple[uuid.UUID, str], tuple[int, datetime]],
    steps: dict[uuid.UUID, story.StepInfo],
    zone: ZoneInfo,
) -> list[story.Entry]:
    found = []
    for email in emails:
        opens = engagement.get((email.id, OPENED), (0, None))
        clicks = engagement.get((email.id, CLICKED_LINK), (0, None))
        facts = story.EmailFacts(
            steps.get(email.step_id, UNKNOWN_STEP),
            email.subject,
            email.status,
            email.variant_key,
            email.sent_at,
            email.last_error,
            opens[0],
            clicks[0],
            clicks[1],
        )
        fields = {
            "message_id": str(email.id),
            "step": facts.step.key,
            "subject": email.subject,
            "status": email.status,
            "variant": email.variant_key,
            "to": email.to_email,
            "queued_at": email.queued_at.isoformat(),
            "sent_at": email.sent_at.isoformat() if email.sent_at else None,
            "last_error": email.last_error,
            "opens": facts.opens,
            "clicks": facts.clicks,
            "last_click_at": facts.last_click_at.isoformat() if facts.last_click_at else None,
        }
        at = email.sent_at or email.queued_at
        found.append(story.Entry(at, "email", story.email_text(facts, zone), fields))
    return found


def _event_entry(event: Any, names: dict[str, str]) -> story.Entry:
    fields = {"type": event.type, "source": event.source, "properties": event.properties or {}}
    text = story.event_text(event.type, event.properties or {}, names)
    return story.Entry(event.occurred_at, "event", text, fields)


def _goal_entries(
    enrollment_id: uuid.UUID, steps: dict[uuid.UUID, story.StepInfo]
) -> list[story.Entry]:
    rows = db.session.execute(
        select(
            Conversion.goal,
            Conversion.step_id,
            Conversion.source,
            Conversion.run,
            Conversion.converted_at,
        ).where(Conversion.enrollment_id == enrollment_id)
    )
    found = []
    for row in rows:
        step = steps.get(row.step_id) if row.step_id else None
        fields = {"goal": row.goal, "source": row.source, "step": step.key if step else None}
        text = story.goal_text(row.goal, step, row.source)
        found.append(story.Entry(row.converted_at, "goal", text, fields, row.run))
    return found


def _change_entries(enrollment_id: uuid.UUID, names: dict[str, str]) -> list[story.Entry]:
    stmt = select(
        EnrollmentChange.kind,
        EnrollmentChange.action,
        EnrollmentChange.from_version,
        EnrollmentChange.to_version,
        EnrollmentChange.from_step,
        EnrollmentChange.to_step,
        EnrollmentChange.detail,
        EnrollmentChange.actor,
        EnrollmentChange.created_at,
    ).where(EnrollmentChange.enrollment_id == enrollment_id)
    rows = _newest(
        stmt, (EnrollmentChange.created_at.desc(), EnrollmentChange.id.desc()), MAX_CHANGES
    )
    found = []
    for row in rows:
        fields = dict(row._mapping)
        fields.pop("created_at")
        found.append(
            story.Entry(row.created_at, "change", story.change_text(fields, names), fields)
        )
    return found


def _waiting_entry(
    enrollment: ContactSequence, step: story.StepInfo | None, waiting: str
) -> story.Entry:
    at = enrollment.step_started_at or enrollment.last_step_completed_at or enrollment.enrolled_at
    where = f"On {step.label}: " if step is not None else ""
    fields = {
        "step": step.key if step else None,
        "next_execution_at": enrollment.next_execution_at.isoformat()
        if enrollment.next_execution_at
        else None,
    }
    return story.Entry(at, "waiting", f"{where}{waiting}", fields, enrollment.runs)
