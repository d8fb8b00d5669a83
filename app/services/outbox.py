"""The outbox as operators read it: every message the engine produced, newest first."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select

from app.extensions import db
from app.models import Contact, OutboundMessage, Sequence, SequenceStep


def list_messages(workspace_id: uuid.UUID, limit: int = 200) -> list[Any]:
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
        .order_by(OutboundMessage.queued_at.desc())
        .limit(limit)
    )
    return list(db.session.execute(stmt))
