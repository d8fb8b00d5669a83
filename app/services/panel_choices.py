"""What the builder's panels and checklist offer to pick from, read within one workspace:
custom field names, segments, other sequences, goals, contacts to preview or test with."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from app.extensions import db
from app.models import Contact, Form, Segment, Sequence
from app.services.contacts import get_contact
from app.services.template_budget import SAMPLE_CONTACT

FIELD_SCAN_LIMIT = 500
"""Custom field names come from this many contacts: enough to list a workspace's fields."""


@dataclass
class SampleContact:
    """The sample contact previews use, shaped like a Contact for `template_context`."""

    email: str
    first_name: str
    last_name: str
    timezone: str
    tags: list[str]
    fields: dict[str, Any]


def custom_fields(workspace_id: uuid.UUID) -> list[str]:
    """The custom field names the workspace's contacts use, sorted."""
    rows = db.session.scalars(
        select(Contact.fields).where(Contact.workspace_id == workspace_id).limit(FIELD_SCAN_LIMIT)
    )
    return sorted({str(key) for fields in rows if isinstance(fields, dict) for key in fields})


def first_contacts(workspace_id: uuid.UUID, limit: int) -> list[Contact]:
    """The workspace's first contacts by email address: a short list to choose from."""
    query = Contact.in_workspace(workspace_id).order_by(Contact.email).limit(limit)
    return list(db.session.scalars(query))


def chosen_contact(workspace_id: uuid.UUID, raw_id: str | None) -> Contact | None:
    """The contact a form picked by id, if it is one of this workspace's; else None."""
    try:
        contact_id = uuid.UUID(raw_id or "")
    except ValueError:
        return None
    return get_contact(workspace_id, contact_id)


def preview_contact(workspace_id: uuid.UUID, raw_id: str | None) -> Contact | SampleContact:
    """The chosen contact, else the sample contact (other custom fields show as `[name]`)."""
    contact = chosen_contact(workspace_id, raw_id)
    if contact is not None:
        return contact
    placeholders = {name: f"[{name}]" for name in custom_fields(workspace_id)}
    fields = placeholders | SAMPLE_CONTACT["fields"]
    return SampleContact(**(SAMPLE_CONTACT | {"fields": fields}))


def segment_names(workspace_id: uuid.UUID) -> list[str]:
    query = select(Segment.name).where(Segment.workspace_id == workspace_id).order_by(Segment.name)
    return list(db.session.scalars(query))


def form_names(workspace_id: uuid.UUID) -> list[str]:
    """The workspace's forms by name: what a `form_submission` trigger can name."""
    query = select(Form.name).where(Form.workspace_id == workspace_id).order_by(Form.name)
    return list(db.session.scalars(query))


def other_sequence_names(sequence: Sequence) -> list[str]:
    """The workspace's other sequences that are not archived: where a contact may be moved."""
    query = (
        select(Sequence.name)
        .where(
            Sequence.workspace_id == sequence.workspace_id,
            Sequence.id != sequence.id,
            Sequence.archived_at.is_(None),
            Sequence.listed(),
        )
        .order_by(Sequence.name)
    )
    return list(dict.fromkeys(db.session.scalars(query)))


def goal_step_names(sequence: Sequence) -> list[str]:
    """The goals the sequence's goal steps record."""
    names = []
    for step in sequence.steps:
        goal = (step.config or {}).get("goal") if step.type == "goal" else None
        if isinstance(goal, str) and goal.strip():
            names.append(goal)
    return names


def goal_names(sequence: Sequence) -> list[str]:
    """Goals an exit rule may name: the sequence's goal definitions and its goal steps."""
    names = [str(goal.get("name")) for goal in sequence.goals_config or [] if goal.get("name")]
    return list(dict.fromkeys([*names, *goal_step_names(sequence)]))
