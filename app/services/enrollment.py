"""Enrolling contacts into a sequence: set-based, with a reason for every contact skipped."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select

from app.core.timing import resolve_zone
from app.core.waiting import describe_wait, describe_zone_fallback
from app.extensions import db
from app.models import Contact, ContactSequence, Sequence, SequenceStep, Workspace
from app.services.bulk import insert_rows
from app.services.graphs import build_graph

ID_CHUNK = 10_000


@dataclass
class EnrollResult:
    enrolled: list[uuid.UUID] = field(default_factory=list)
    skipped: list[dict[str, Any]] = field(default_factory=list)

    def skip(self, who: dict[str, Any], reason: str) -> None:
        self.skipped.append({**who, "reason": reason})


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
    result = EnrollResult()
    if sequence.status not in ("active", "paused"):
        for contact in contacts:
            result.skip(_who(contact), f"the sequence is {sequence.status}; activate it first")
        return result
    existing = _existing_enrollments(sequence, [c.id for c in contacts])
    entry = uuid.UUID(build_graph(sequence.steps, sequence.connections).entry_id)
    rows, seen = [], set()
    for contact in contacts:
        if contact.id in seen:
            continue
        seen.add(contact.id)
        if contact.unsubscribed_at is not None:
            result.skip(_who(contact), "unsubscribed")
        elif contact.id in existing:
            state = existing[contact.id]
            result.skip(_who(contact), f"already enrolled ({state})")
        else:
            rows.append(_new_enrollment(sequence, contact, entry, now, reason, context or {}))
            result.enrolled.append(contact.id)
    insert_rows(ContactSequence.__table__, rows)
    db.session.commit()
    return result


def _existing_enrollments(sequence: Sequence, ids: list[uuid.UUID]) -> dict[uuid.UUID, str]:
    """Status of each contact already enrolled, looked up in chunks (bind-parameter limits)."""
    found: dict[uuid.UUID, str] = {}
    for start in range(0, len(ids), ID_CHUNK):
        chunk = ids[start : start + ID_CHUNK]
        rows = db.session.execute(
            select(ContactSequence.contact_id, ContactSequence.status).where(
                ContactSequence.sequence_id == sequence.id,
                ContactSequence.contact_id.in_(chunk),
            )
        )
        found.update((contact_id, status) for contact_id, status in rows)
    return found


def _new_enrollment(
    sequence: Sequence,
    contact: Contact,
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
        "created_at": now,
        "updated_at": now,
    }


def _who(contact: Contact) -> dict[str, Any]:
    return {"contact_id": str(contact.id), "email": contact.email}


def list_enrollments(
    workspace_id: uuid.UUID,
    sequence_id: uuid.UUID | None = None,
    limit: int = 500,
    offset: int = 0,
) -> list[Any]:
    """Enrollments with their contact and current step, newest first."""
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
        .where(ContactSequence.workspace_id == workspace_id)
        .order_by(ContactSequence.enrolled_at.desc(), ContactSequence.id)
        .limit(limit)
        .offset(offset)
    )
    if sequence_id is not None:
        stmt = stmt.where(ContactSequence.sequence_id == sequence_id)
    return list(db.session.execute(stmt))


def enrollment_to_dict(row: Any) -> dict[str, Any]:
    """One row of list_enrollments as the API shows it."""
    enrollment: ContactSequence = row.ContactSequence

    def iso(value: datetime | None) -> str | None:
        return value.isoformat() if value else None

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
    }


def waiting_reason(row: Any) -> str | None:
    """Why an active enrollment waits and until when, in the contact's time zone, with a
    note when the contact's own zone was not valid and a fallback was used."""
    enrollment: ContactSequence = row.ContactSequence
    if enrollment.status != "active" or row.step_type not in ("delay", "wait_until"):
        return None
    resolved = resolve_zone(
        row.contact_timezone,
        (row.sequence_settings or {}).get("timezone"),
        row.workspace_timezone,
    )
    reason = describe_wait(
        row.step_type, row.step_config or {}, enrollment.next_execution_at, resolved.zone
    )
    fallback = describe_zone_fallback(resolved.rejected, resolved.zone)
    return f"{reason} ({fallback})" if fallback else reason
