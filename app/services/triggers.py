"""Entry triggers: enroll contacts in every active sequence whose trigger matches.

A segment join, a hosted form submission or an event from the events API names a trigger;
each matching sequence applies its own re-enrollment rule (see `enrollment`).

A paused sequence keeps its enrollments; what becomes of new joiners is chosen when pausing
(`settings.while_paused`): "queue" enrolls them now and they start when it resumes (the
processor runs only active sequences); "refuse" (the default) leaves them out and records
each refusal as an `enrollment_refused` event on the contact, so the checklist can count
them and the contact's history says why.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, select

from app.extensions import db
from app.models import Contact, ContactEvent, ContactSequence, Sequence
from app.services.enrollment import Candidate, EnrollResult, enroll_candidates

ENROLLMENT_REFUSED = "enrollment_refused"

REASONS = {
    "segment_join": "joined segment {name!r}",
    "form_submission": "submitted form {name!r}",
    "api_event": "event {name!r}",
}


def matching_sequences(workspace_id: uuid.UUID, kind: str, name: str) -> list[Sequence]:
    """The workspace's active and paused sequences whose trigger is this kind and names
    `name`."""
    key = {"segment_join": "segment", "form_submission": "form", "api_event": "event"}[kind]
    active = db.session.scalars(
        Sequence.in_workspace(workspace_id, Sequence.status.in_(("active", "paused"))).order_by(
            Sequence.created_at
        )
    )
    return [
        s
        for s in active
        if (s.trigger_config or {}).get("type") == kind
        and (s.trigger_config or {}).get(key) == name
    ]


def enroll_on_trigger(
    workspace_id: uuid.UUID,
    kind: str,
    name: str,
    contacts: Iterable[Contact],
    now: datetime,
    context: Mapping[str, Any] | None = None,
) -> dict[uuid.UUID, EnrollResult]:
    """Enroll these contacts wherever a `kind` trigger names `name` ("segment_join" with a
    segment name, "form_submission" with a form name); results by sequence id."""
    candidates = [Candidate(c.id, c.email, c.unsubscribed_at is not None) for c in contacts]
    reason = REASONS[kind].format(name=name)
    return {
        sequence.id: _enroll_or_refuse(sequence, candidates, now, reason, context=context)
        for sequence in matching_sequences(workspace_id, kind, name)
    }


def enroll_on_events(
    workspace_id: uuid.UUID, events: Iterable[Mapping[str, Any]], now: datetime
) -> dict[uuid.UUID, EnrollResult]:
    """Enroll the contacts of events from the events API in every active sequence whose
    `api_event` trigger names the event and whose property filter the event matches.

    Each enrollment keeps its triggering event as context (`enrollment.trigger.*`); of
    several matching events for one contact in one call, the first counts."""
    by_type: dict[str, list[Mapping[str, Any]]] = {}
    for event in events:
        by_type.setdefault(event["type"], []).append(event)
    results: dict[uuid.UUID, EnrollResult] = {}
    for kind, found in by_type.items():
        sequences = matching_sequences(workspace_id, "api_event", kind)
        if not sequences:
            continue
        people = _candidates(workspace_id, {e["contact_id"] for e in found})
        for sequence in sequences:
            wanted = (sequence.trigger_config or {}).get("properties") or {}
            contexts: dict[uuid.UUID, dict[str, Any]] = {}
            for event in found:
                if properties_match(wanted, event.get("properties") or {}):
                    contexts.setdefault(event["contact_id"], trigger_context(event))
            chosen = [people[c] for c in contexts if c in people]
            if chosen:
                reason = REASONS["api_event"].format(name=kind)
                results[sequence.id] = _enroll_or_refuse(
                    sequence, chosen, now, reason, contexts=contexts
                )
    return results


def _enroll_or_refuse(
    sequence: Sequence,
    candidates: list[Candidate],
    now: datetime,
    reason: str,
    **contexts: Any,
) -> EnrollResult:
    """Enroll, unless the sequence is paused and refuses joiners meanwhile: then each
    refusal is recorded (one statement for the batch) and nobody is enrolled."""
    if sequence.status == "active" or while_paused(sequence) == "queue":
        return enroll_candidates(sequence, candidates, now, reason, **contexts)
    result = EnrollResult()
    for candidate in candidates:
        who = {"contact_id": str(candidate.id), "email": candidate.email}
        result.skip(who, "the sequence is paused and refuses new joiners")
    rows = [
        {
            "tenant_id": sequence.tenant_id,
            "workspace_id": sequence.workspace_id,
            "contact_id": candidate.id,
            "type": ENROLLMENT_REFUSED,
            "properties": {
                "sequence": sequence.name,
                "sequence_id": str(sequence.id),
                "reason": "paused",
                "trigger": reason,
            },
            "occurred_at": now,
            "recorded_at": now,
            "source": "engine",
        }
        for candidate in {c.id: c for c in candidates}.values()
    ]
    if rows:
        db.session.execute(insert(ContactEvent.__table__), rows)
    db.session.commit()
    return result


def while_paused(sequence: Sequence) -> str:
    """queue | refuse: what the sequence does with new joiners while paused."""
    return "queue" if (sequence.settings or {}).get("while_paused") == "queue" else "refuse"


def refused_while_paused(sequence: Sequence) -> int:
    """How many joiners a pause has turned away from this sequence, ever."""
    return db.session.scalar(
        select(func.count(ContactEvent.id)).where(
            ContactEvent.workspace_id == sequence.workspace_id,
            ContactEvent.type == ENROLLMENT_REFUSED,
            ContactEvent.properties["sequence_id"].as_string() == str(sequence.id),
        )
    )


def queued_while_paused(sequence: Sequence) -> int:
    """Enrollments of this paused sequence that have not run a step yet: they start on
    resume."""
    return db.session.scalar(
        select(func.count(ContactSequence.id)).where(
            ContactSequence.sequence_id == sequence.id,
            ContactSequence.status == "active",
            ContactSequence.last_step_completed_at.is_(None),
        )
    )


def properties_match(wanted: Mapping[str, Any], given: Mapping[str, Any]) -> bool:
    """Every filter property equals the event's (JSON equality: 1 and "1" differ)."""
    return all(key in given and given[key] == value for key, value in wanted.items())


def trigger_context(event: Mapping[str, Any]) -> dict[str, Any]:
    """The enrollment context for a triggering event, read by waits as `enrollment.trigger`."""
    occurred = event.get("occurred_at")
    return {
        "trigger": {
            "event": event["type"],
            "properties": dict(event.get("properties") or {}),
            "occurred_at": occurred.isoformat() if isinstance(occurred, datetime) else occurred,
        }
    }


def _candidates(workspace_id: uuid.UUID, ids: set[uuid.UUID]) -> dict[uuid.UUID, Candidate]:
    rows = db.session.execute(
        select(Contact.id, Contact.email, Contact.unsubscribed_at).where(
            Contact.workspace_id == workspace_id, Contact.id.in_(ids)
        )
    )
    return {i: Candidate(i, email, gone is not None) for i, email, gone in rows}
