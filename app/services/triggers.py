"""Entry triggers: enroll contacts in every active sequence whose trigger matches.

A segment join, a hosted form submission or an event from the events API names a trigger;
each matching sequence applies its own re-enrollment rule (see `enrollment`). Paused
sequences keep their enrollments but take no new ones from triggers.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import select

from app.extensions import db
from app.models import Contact, Sequence
from app.services.enrollment import Candidate, EnrollResult, enroll_candidates

REASONS = {
    "segment_join": "joined segment {name!r}",
    "form_submission": "submitted form {name!r}",
    "api_event": "event {name!r}",
}


def matching_sequences(workspace_id: uuid.UUID, kind: str, name: str) -> list[Sequence]:
    """The workspace's active sequences whose trigger is this kind and names `name`."""
    key = {"segment_join": "segment", "form_submission": "form", "api_event": "event"}[kind]
    active = db.session.scalars(
        Sequence.in_workspace(workspace_id, Sequence.status == "active").order_by(
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
        sequence.id: enroll_candidates(sequence, candidates, now, reason, context)
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
                results[sequence.id] = enroll_candidates(
                    sequence, chosen, now, reason, contexts=contexts
                )
    return results


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
