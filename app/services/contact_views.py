"""What the contacts pages read: search, one contact's enrollments and timeline (emails
and events), the sequences a contact can be added to. Every query is scoped to one workspace."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, false, func, or_, select, true

from app.core.event_sentences import event_sentence, quoted
from app.extensions import db
from app.models import (
    Contact,
    ContactEvent,
    ContactImport,
    ContactSequence,
    OutboundMessage,
    Sequence,
    SequenceStep,
)

MAX_TERMS = 5


def search(
    workspace_id: uuid.UUID, query: str, limit: int, offset: int
) -> tuple[list[Contact], int]:
    """A page of contacts by email, and how many match `matching(query)`."""
    criteria = [Contact.workspace_id == workspace_id, matching(query)]
    total = db.session.scalar(select(func.count()).select_from(Contact).where(*criteria)) or 0
    rows = db.session.scalars(
        select(Contact).where(*criteria).order_by(Contact.email).limit(limit).offset(offset)
    )
    return list(rows), int(total)


def matching(query: str) -> ColumnElement[bool]:
    """Contacts a search finds: every word of the query must be part of the email, first
    or last name (case-insensitive; % and _ match themselves). Stored text never holds a NUL
    character, so a query with one matches nothing (and is not sent to PostgreSQL, which
    refuses NUL in text)."""
    if "\x00" in query:
        return false()
    return and_(
        *(
            or_(
                Contact.email.ilike(pattern, escape="\\"),
                Contact.first_name.ilike(pattern, escape="\\"),
                Contact.last_name.ilike(pattern, escape="\\"),
            )
            for pattern in map(contains_pattern, query.split()[:MAX_TERMS])
        ),
        true(),
    )


def contains_pattern(term: str) -> str:
    """An ILIKE pattern (escape character backslash) for text containing `term` as typed."""
    return "%" + term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def contacts_in(workspace_id: uuid.UUID, ids: list[uuid.UUID]) -> list[Contact]:
    """These contacts, those of the workspace only, by email."""
    stmt = Contact.in_workspace(workspace_id, Contact.id.in_(ids)).order_by(Contact.email)
    return list(db.session.scalars(stmt))


def enrollments_of(workspace_id: uuid.UUID, contact_id: uuid.UUID) -> list[Any]:
    """The contact's enrollments with their sequence's name, newest first."""
    stmt = (
        select(ContactSequence, Sequence.name.label("sequence_name"))
        .join(Sequence, Sequence.id == ContactSequence.sequence_id)
        .where(
            ContactSequence.workspace_id == workspace_id,
            ContactSequence.contact_id == contact_id,
        )
        .order_by(ContactSequence.enrolled_at.desc())
    )
    return list(db.session.execute(stmt))


@dataclass(frozen=True)
class TimelineEntry:
    """One line of a contact's timeline: an email sent to them (`status` set) or an event
    told as a sentence (`source` set: who recorded it)."""

    at: datetime
    text: str
    status: str | None = None
    where: str | None = None  # the email's sequence and step
    error: str | None = None  # why the email failed or waits
    source: str | None = None


def timeline(workspace_id: uuid.UUID, contact_id: uuid.UUID, limit: int) -> list[TimelineEntry]:
    """The contact's latest emails and events, newest first, `limit` in all: emails with
    their subject (the step's name until rendered), status, sequence and step; events as
    sentences naming the email they are about. Three queries whatever the history."""
    emails = db.session.execute(
        select(
            OutboundMessage.id,
            OutboundMessage.subject,
            OutboundMessage.status,
            OutboundMessage.queued_at,
            OutboundMessage.sent_at,
            OutboundMessage.last_error,
            Sequence.name.label("sequence"),
            func.coalesce(SequenceStep.name, SequenceStep.key).label("step"),
        )
        .join(Sequence, Sequence.id == OutboundMessage.sequence_id)
        .outerjoin(SequenceStep, SequenceStep.id == OutboundMessage.step_id)
        .where(
            OutboundMessage.workspace_id == workspace_id,
            OutboundMessage.contact_id == contact_id,
        )
        .order_by(OutboundMessage.queued_at.desc())
        .limit(limit)
    ).all()
    events = db.session.scalars(
        ContactEvent.in_workspace(workspace_id, ContactEvent.contact_id == contact_id)
        .order_by(ContactEvent.occurred_at.desc(), ContactEvent.id.desc())
        .limit(limit)
    ).all()
    titles = _email_titles(workspace_id, {e.message_id for e in events if e.message_id})
    entries = [
        TimelineEntry(
            at=row.sent_at or row.queued_at,
            text=f"Email {quoted(row.subject or row.step or 'without a subject')}",
            status=row.status,
            where=f"{row.sequence} · {row.step}" if row.step else row.sequence,
            error=row.last_error,
        )
        for row in emails
    ]
    entries += [
        TimelineEntry(
            at=event.occurred_at,
            text=event_sentence(event.type, event.properties or {}, titles.get(event.message_id)),
            source=event.source,
        )
        for event in events
    ]
    entries.sort(key=lambda entry: entry.at, reverse=True)
    return entries[:limit]


def _email_titles(workspace_id: uuid.UUID, ids: set[uuid.UUID]) -> dict[uuid.UUID, str]:
    """The subject of each of these emails (the step's name until it is rendered)."""
    if not ids:
        return {}
    rows = db.session.execute(
        select(
            OutboundMessage.id,
            func.coalesce(OutboundMessage.subject, SequenceStep.name, SequenceStep.key),
        )
        .outerjoin(SequenceStep, SequenceStep.id == OutboundMessage.step_id)
        .where(OutboundMessage.workspace_id == workspace_id, OutboundMessage.id.in_(ids))
    )
    return {message_id: title for message_id, title in rows if title}


def enrollable_sequences(workspace_id: uuid.UUID) -> list[Sequence]:
    """Active and paused sequences (a paused one keeps its new enrollments waiting)."""
    stmt = Sequence.in_workspace(workspace_id, Sequence.status.in_(("active", "paused")))
    return list(db.session.scalars(stmt.order_by(Sequence.name)))


def recent_imports(workspace_id: uuid.UUID, limit: int) -> list[ContactImport]:
    stmt = ContactImport.in_workspace(workspace_id).order_by(ContactImport.created_at.desc())
    return list(db.session.scalars(stmt.limit(limit)))
