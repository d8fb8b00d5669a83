"""Enrolling contacts into a sequence: set-based, with a reason for every contact skipped."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import Select, select, update
from sqlalchemy.exc import IntegrityError

from app.core import experiments, reentry
from app.core.steps import WAITING_STEP_TYPES
from app.core.timing import describe_local, resolve_zone
from app.core.waiting import describe_wait, describe_zone_fallback
from app.extensions import db
from app.models import (
    Contact,
    ContactSequence,
    EnrollmentRun,
    SegmentMembership,
    Sequence,
    SequenceStep,
    Suppression,
    Workspace,
)
from app.services import interventions
from app.services.bulk import insert_rows, update_rows
from app.services.graphs import build_graph
from app.services.suppression import suppressed_emails
from app.services.waits import nudge_processor

ID_CHUNK = 10_000


@dataclass
class EnrollResult:
    enrolled: list[uuid.UUID] = field(default_factory=list)
    skipped: list[dict[str, Any]] = field(default_factory=list)
    re_enrolled: int = 0  # of `enrolled`, how many started a new run of an earlier enrollment

    def skip(self, who: dict[str, Any], reason: str) -> None:
        self.skipped.append({**who, "reason": reason})


class Candidate(NamedTuple):
    """What enrolling needs to know of a contact; bulk paths read these without ORM objects."""

    id: uuid.UUID
    email: str
    unsubscribed: bool


class _Earlier(NamedTuple):
    id: uuid.UUID
    status: str
    finished_at: datetime | None
    runs: int
    enrolled_at: datetime
    enroll_reason: str | None
    exit_reason: str | None


def enroll_contacts(
    sequence: Sequence,
    contacts: list[Contact],
    now: datetime,
    reason: str = "manual",
    context: Mapping[str, Any] | None = None,
) -> EnrollResult:
    """Enroll these contacts (all of the sequence's workspace) starting at its entry step.

    `context` is kept on each enrollment (e.g. `{"trigger": {"event", "properties"}}`) for
    waits that correlate with it, such as a checkout matching the abandoned cart's id.
    """
    candidates = [Candidate(c.id, c.email, c.unsubscribed_at is not None) for c in contacts]
    return enroll_candidates(sequence, candidates, now, reason, context)


def enroll_segment(
    sequence: Sequence, segment_id: uuid.UUID, now: datetime, reason: str = "manual"
) -> EnrollResult:
    """Enroll every member of a segment. Members, their earlier enrollments and their
    suppressions are each read by one join on the segment, never by long lists of ids."""
    rows = db.session.execute(
        select(Contact.id, Contact.email, Contact.unsubscribed_at)
        .join(SegmentMembership, SegmentMembership.contact_id == Contact.id)
        .where(
            SegmentMembership.segment_id == segment_id,
            SegmentMembership.workspace_id == sequence.workspace_id,
        )
        .order_by(Contact.id)
    )
    candidates = [Candidate(i, email, gone is not None) for i, email, gone in rows]
    return enroll_candidates(sequence, candidates, now, reason, segment_id=segment_id)


def enroll_candidates(
    sequence: Sequence,
    candidates: list[Candidate],
    now: datetime,
    reason: str,
    context: Mapping[str, Any] | None = None,
    contexts: Mapping[uuid.UUID, Mapping[str, Any]] | None = None,
    segment_id: uuid.UUID | None = None,
) -> EnrollResult:
    """Enroll, re-enroll (by the sequence's re-enrollment rule) or skip each contact, with a
    reason for every skip; committed here. A concurrent enrollment of the same contact makes
    the insert fail on UNIQUE(sequence_id, contact_id), and a concurrent re-enrollment of
    the same finished run fails on UNIQUE(enrollment_id, run) of its archived copy: the
    attempt then runs once more and finds the new run, so nobody is ever enrolled twice.

    `contexts` gives some contacts their own context (the event that triggered each)."""
    scope = _Scope(sequence, segment_id)
    per_contact = contexts or {}
    try:
        return _enroll(scope, candidates, now, reason, context or {}, per_contact)
    except IntegrityError:
        db.session.rollback()
    return _enroll(scope, candidates, now, reason, context or {}, per_contact)


def _enroll(
    scope: _Scope,
    candidates: list[Candidate],
    now: datetime,
    reason: str,
    context: Mapping[str, Any],
    contexts: Mapping[uuid.UUID, Mapping[str, Any]],
) -> EnrollResult:
    result = EnrollResult()
    sequence = scope.sequence
    if sequence.status not in ("active", "paused"):
        for contact in candidates:
            result.skip(_who(contact), f"the sequence is {sequence.status}; activate it first")
        return result
    unique = list({c.id: c for c in candidates}.values())
    existing = scope.existing([c.id for c in unique])
    suppressed = scope.suppressed([c.email for c in unique])
    entry = uuid.UUID(build_graph(sequence.steps, sequence.connections).entry_id)
    rule = sequence.re_enrollment_config
    rows, again, history = [], [], []
    for contact in unique:
        earlier = existing.get(contact.id)
        if contact.unsubscribed:
            result.skip(_who(contact), "unsubscribed")
        elif contact.email.lower() in suppressed:
            result.skip(_who(contact), f"suppressed ({suppressed[contact.email.lower()]})")
        elif earlier is None:
            own = contexts.get(contact.id, context)
            rows.append(_new_enrollment(sequence, contact, entry, now, reason, own))
            result.enrolled.append(contact.id)
        elif why := reentry.refusal(
            rule, reentry.EarlierRun(earlier.status, earlier.finished_at, earlier.runs), now
        ):
            result.skip(_who(contact), why)
        else:
            history.append(_history_row(sequence, contact.id, earlier))
            own = contexts.get(contact.id, context)
            again.append(_restart(earlier, entry, now, reason, own))
            result.enrolled.append(contact.id)
    for run in rows + again:  # the version whose entry step it starts on (a publish
        run["version"] = sequence.published_version  # committed meanwhile leaves it there)
    _draw(sequence, rows + again)
    insert_rows(ContactSequence.__table__, rows)
    insert_rows(EnrollmentRun.__table__, history)
    update_rows(ContactSequence.__table__, again)
    result.re_enrolled = len(again)
    db.session.commit()
    if result.enrolled:
        nudge_processor()
    return result


_EARLIER_COLUMNS = (
    ContactSequence.contact_id,
    ContactSequence.id,
    ContactSequence.status,
    ContactSequence.finished_at,
    ContactSequence.runs,
    ContactSequence.enrolled_at,
    ContactSequence.enroll_reason,
    ContactSequence.exit_reason,
)


@dataclass(frozen=True)
class _Scope:
    """Where the candidates come from: a list (looked up in chunks of ids, for the
    bind-parameter limits) or a whole segment (looked up by one join on it)."""

    sequence: Sequence
    segment_id: uuid.UUID | None

    def existing(self, ids: list[uuid.UUID]) -> dict[uuid.UUID, _Earlier]:
        """Each candidate's enrollment row in this sequence, if it has one."""
        query = select(*_EARLIER_COLUMNS).where(ContactSequence.sequence_id == self.sequence.id)
        if self.segment_id is not None:
            rows = db.session.execute(query.join(*self._members(ContactSequence.contact_id)))
            return {row[0]: _Earlier(*row[1:]) for row in rows}
        found: dict[uuid.UUID, _Earlier] = {}
        for start in range(0, len(ids), ID_CHUNK):
            chunk = ids[start : start + ID_CHUNK]
            rows = db.session.execute(query.where(ContactSequence.contact_id.in_(chunk)))
            found.update((row[0], _Earlier(*row[1:])) for row in rows)
        return found

    def suppressed(self, emails: list[str]) -> dict[str, str]:
        """{lowercased email: reason} for candidates on the workspace's suppression list."""
        workspace_id = self.sequence.workspace_id
        if self.segment_id is not None:
            rows = db.session.execute(
                select(Suppression.email, Suppression.reason)
                .join(Contact, Contact.email_key == Suppression.email)
                .join(*self._members(Contact.id))
                .where(
                    Suppression.workspace_id == workspace_id, Contact.workspace_id == workspace_id
                )
            )
            return {email: reason for email, reason in rows}
        found: dict[str, str] = {}
        for start in range(0, len(emails), ID_CHUNK):
            chunk = emails[start : start + ID_CHUNK]
            found.update(
                (e.lower(), why) for e, why in suppressed_emails(workspace_id, chunk).items()
            )
        return found

    def _members(self, contact_id: Any) -> tuple[Any, Any]:
        return SegmentMembership, (SegmentMembership.contact_id == contact_id) & (
            SegmentMembership.segment_id == self.segment_id
        )


def _new_enrollment(
    sequence: Sequence,
    contact: Candidate,
    entry: uuid.UUID,
    now: datetime,
    reason: str,
    context: Mapping[str, Any],
) -> dict[str, Any]:
    return {
        "id": uuid.uuid4(),
        "tenant_id": sequence.tenant_id,
        "workspace_id": sequence.workspace_id,
        "sequence_id": sequence.id,
        "contact_id": contact.id,
        "status": "active",
        "current_step_id": entry,
        "enrolled_at": now,
        "next_execution_at": now,
        "context_data": dict(context),
        "visits": {},
        "enroll_reason": reason,
        "runs": 1,
        "created_at": now,
        "updated_at": now,
    }


def _history_row(sequence: Sequence, contact_id: uuid.UUID, earlier: _Earlier) -> dict[str, Any]:
    """The finished run, archived before its row starts the next one."""
    return {
        "tenant_id": sequence.tenant_id,
        "workspace_id": sequence.workspace_id,
        "enrollment_id": earlier.id,
        "sequence_id": sequence.id,
        "contact_id": contact_id,
        "run": earlier.runs,
        "status": earlier.status,
        "enrolled_at": earlier.enrolled_at,
        "finished_at": earlier.finished_at,
        "enroll_reason": earlier.enroll_reason,
        "exit_reason": earlier.exit_reason,
    }


def _draw(sequence: Sequence, runs: list[dict[str, Any]]) -> None:
    """Give each new run its draw number, in order, and its holdout group from it: one
    UPDATE ... RETURNING takes the numbers from the sequence's counter, so concurrent
    enrollments never share one. Kept on the row, so a later change of the percentage
    never moves someone already enrolled (app/core/experiments.py)."""
    if not runs:
        return
    table = Sequence.__table__
    last = db.session.execute(
        update(table)
        .where(table.c.id == sequence.id)
        .values(draws=table.c.draws + len(runs))
        .returning(table.c.draws)
    ).scalar_one()
    percent = int((sequence.settings or {}).get("holdout_percent") or 0)
    for number, run in enumerate(runs, start=last - len(runs)):
        run["draw"] = number
        run["holdout"] = experiments.in_holdout(percent, number, f"holdout:{sequence.id}")


def _restart(
    earlier: _Earlier,
    entry: uuid.UUID,
    now: datetime,
    reason: str,
    context: Mapping[str, Any],
) -> dict[str, Any]:
    """The same row as a new run from the entry step. `visits` is kept: the step log's
    rotation keeps counting, so no step of the new run can collide with one already taken."""
    return {
        "id": earlier.id,
        "status": "active",
        "current_step_id": entry,
        "step_started_at": None,
        "enrolled_at": now,
        "last_step_completed_at": None,
        "next_execution_at": now,
        "finished_at": None,
        "context_data": dict(context),
        "enroll_reason": reason,
        "exit_reason": None,
        "runs": earlier.runs + 1,
        "updated_at": now,
    }


def _who(contact: Candidate) -> dict[str, Any]:
    return {"contact_id": str(contact.id), "email": contact.email}


def get_enrollment(workspace_id: uuid.UUID, enrollment_id: uuid.UUID) -> ContactSequence | None:
    return db.session.scalar(
        ContactSequence.in_workspace(workspace_id, ContactSequence.id == enrollment_id)
    )


def exit_enrollment(
    workspace_id: uuid.UUID,
    enrollment_id: uuid.UUID,
    exit_reason: str,
    now: datetime,
    actor: str,
    reason: str | None = None,
) -> ContactSequence | None:
    """End one active or paused enrollment of the workspace as `exited`, showing
    `exit_reason`, with its audit row (who, and the operator's `reason`); committed here.
    One guarded UPDATE, so a run the processor (or a goal) finishes at the same moment is
    never overwritten; None when there was nothing live to end. Emails it had queued are
    skipped by the dispatcher, which checks for exits when it claims them."""
    ended = interventions.exit_runs(workspace_id, [enrollment_id], actor, reason, now, exit_reason)
    return get_enrollment(workspace_id, enrollment_id) if ended.changed else None


def state_to_dict(enrollment: ContactSequence) -> dict[str, Any]:
    """An enrollment's state as the API answers an intervention on it."""
    step = (
        db.session.get(SequenceStep, enrollment.current_step_id)
        if enrollment.current_step_id
        else None
    )
    return {
        "id": str(enrollment.id),
        "contact_id": str(enrollment.contact_id),
        "sequence_id": str(enrollment.sequence_id),
        "status": enrollment.status,
        "current_step": step.key if step is not None else None,
        "next_execution_at": _iso(enrollment.next_execution_at),
        "skip_wait": enrollment.skip_wait,
        "version": enrollment.version,
        "exit_reason": enrollment.exit_reason,
        "finished_at": _iso(enrollment.finished_at),
    }


def listing(*criteria: Any) -> Select[Any]:
    """The columns every enrollments list shows (contact, sequence, current step, the zones
    its waiting reason needs), joined once, for the rows meeting `criteria`."""
    return (
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
        .where(*criteria)
    )


def list_enrollments(
    workspace_id: uuid.UUID,
    sequence_id: uuid.UUID | None = None,
    limit: int = 500,
    offset: int = 0,
) -> list[Any]:
    """Enrollments with their contact and current step, newest first (the sequence API's
    offset pages; the enrollments list pages by key in services/enrollment_query.py)."""
    stmt = (
        listing(ContactSequence.workspace_id == workspace_id)
        .order_by(ContactSequence.enrolled_at.desc(), ContactSequence.id)
        .limit(limit)
        .offset(offset)
    )
    if sequence_id is not None:
        stmt = stmt.where(ContactSequence.sequence_id == sequence_id)
    return list(db.session.execute(stmt))


def earlier_runs(enrollment_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, list[EnrollmentRun]]:
    """The archived earlier runs of these enrollments, oldest first, in one query."""
    ids = list(enrollment_ids)
    found: dict[uuid.UUID, list[EnrollmentRun]] = {i: [] for i in ids}
    if not ids:
        return found
    rows = db.session.scalars(
        select(EnrollmentRun)
        .where(EnrollmentRun.enrollment_id.in_(ids))
        .order_by(EnrollmentRun.enrollment_id, EnrollmentRun.run)
    )
    for run in rows:
        found[run.enrollment_id].append(run)
    return found


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def run_to_dict(run: EnrollmentRun) -> dict[str, Any]:
    return {
        "run": run.run,
        "status": run.status,
        "enrolled_at": _iso(run.enrolled_at),
        "finished_at": _iso(run.finished_at),
        "enroll_reason": run.enroll_reason,
        "exit_reason": run.exit_reason,
    }


def enrollment_to_dict(row: Any, history: Iterable[EnrollmentRun] = ()) -> dict[str, Any]:
    """One row of list_enrollments as the API shows it, with its earlier runs if given."""
    enrollment: ContactSequence = row.ContactSequence
    iso = _iso

    return {
        "id": str(enrollment.id),
        "contact_id": str(enrollment.contact_id),
        "email": row.email,
        "status": enrollment.status,
        "current_step": row.step_key,
        "current_step_name": row.step_name,
        "next_execution_at": iso(enrollment.next_execution_at),
        "enrolled_at": iso(enrollment.enrolled_at),
        "finished_at": iso(enrollment.finished_at),
        "enroll_reason": enrollment.enroll_reason,
        "exit_reason": enrollment.exit_reason,
        "waiting": waiting_reason(row),
        "run": enrollment.runs,
        "version": enrollment.version,
        "earlier_runs": [run_to_dict(run) for run in history],
    }


def waiting_reason(row: Any) -> str | None:
    """Why an active enrollment waits and until when, in the contact's time zone, with a
    note when the contact's own zone was not valid and a fallback was used."""
    enrollment: ContactSequence = row.ContactSequence
    held = enrollment.status == "active" and enrollment.hold_reason is not None
    if not held and (enrollment.status != "active" or row.step_type not in WAITING_STEP_TYPES):
        return None
    resolved = resolve_zone(
        row.contact_timezone,
        (row.sequence_settings or {}).get("timezone"),
        row.workspace_timezone,
    )
    if held:  # an email held back (a frequency cap), not a wait of the step's own
        when = describe_local(enrollment.next_execution_at, resolved.zone)
        return f"{enrollment.hold_reason} until {when}"
    reason = describe_wait(
        row.step_type, row.step_config or {}, enrollment.next_execution_at, resolved.zone
    )
    fallback = describe_zone_fallback(resolved.rejected, resolved.zone)
    return f"{reason} ({fallback})" if fallback else reason
