"""The outbox as operators read it: every message the engine produced, newest first."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update

from app.extensions import db
from app.models import Contact, OutboundMessage, Sequence, SequenceStep

# What an operator may send again: an interrupted SMTP transaction (it may or may not have
# arrived: they check first) or a message that failed.
RESENDABLE = ("unknown", "failed")


def list_messages(
    workspace_id: uuid.UUID, limit: int = 200, offset: int = 0, status: str | None = None
) -> list[Any]:
    """Messages with recipient, sequence and step names, in one query."""
    stmt = (
        select(
            OutboundMessage,
            Contact.email,
            Sequence.name.label("sequence_name"),
            SequenceStep.name.label("step_name"),
            SequenceStep.key.label("step_key"),
        )
        .join(Contact, Contact.id == OutboundMessage.contact_id)
        .join(Sequence, Sequence.id == OutboundMessage.sequence_id)
        .outerjoin(SequenceStep, SequenceStep.id == OutboundMessage.step_id)
        .where(OutboundMessage.workspace_id == workspace_id)
        .order_by(OutboundMessage.queued_at.desc(), OutboundMessage.id)
        .limit(limit)
        .offset(offset)
    )
    if status is not None:
        stmt = stmt.where(OutboundMessage.status == status)
    return list(db.session.execute(stmt))


def status_counts(workspace_id: uuid.UUID) -> dict[str, int]:
    """Messages per status, for the outbox's filter, in one GROUP BY."""
    stmt = (
        select(OutboundMessage.status, func.count())
        .where(OutboundMessage.workspace_id == workspace_id)
        .group_by(OutboundMessage.status)
    )
    return {status: count for status, count in db.session.execute(stmt)}


def get_message(workspace_id: uuid.UUID, message_id: uuid.UUID) -> OutboundMessage | None:
    """The workspace's message with this id; None for another workspace's."""
    return db.session.scalar(
        select(OutboundMessage).where(
            OutboundMessage.id == message_id, OutboundMessage.workspace_id == workspace_id
        )
    )


def send_again(workspace_id: uuid.UUID, message_id: uuid.UUID, now: datetime) -> bool:
    """Queue an `unknown` or `failed` message again, as a fresh send (its attempts start
    over); the dispatcher still skips it if the address was suppressed or the enrollment
    exited meanwhile. False when it is in any other state (one guarded UPDATE, so two
    clicks queue it once)."""
    queued = db.session.execute(
        update(OutboundMessage)
        .where(
            OutboundMessage.id == message_id,
            OutboundMessage.workspace_id == workspace_id,
            OutboundMessage.status.in_(RESENDABLE),
        )
        .values(status="queued", attempts=0, next_attempt_at=now, last_error=None, updated_at=now)
    ).rowcount
    db.session.commit()
    return bool(queued)
