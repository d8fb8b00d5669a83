"""Queue every email step of a sequence for one enrollment, as the processor queues an email
(one outbox row each), so the real dispatcher sends them all at once: for checks on the
messages themselves (headers, scores, signatures), not on the schedule."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import insert, select

from app.extensions import db
from app.mail.compose import make_message_id
from app.models import Contact, ContactSequence, OutboundMessage, Sequence, SequenceStep
from app.services.links import sender_domain


def queue_every_email(sequence: Sequence, contact: Contact, now: datetime) -> int:
    """One queued message per email step to the enrolled contact, in step order; returns
    how many."""
    enrollment_id = db.session.scalar(
        select(ContactSequence.id).where(
            ContactSequence.sequence_id == sequence.id, ContactSequence.contact_id == contact.id
        )
    )
    steps = db.session.scalars(
        select(SequenceStep)
        .where(SequenceStep.sequence_id == sequence.id, SequenceStep.type == "email")
        .order_by(SequenceStep.sort_order)
    ).all()
    rows = []
    for rotation, step in enumerate(steps):
        message_uuid = uuid.uuid4()
        rows.append(
            {
                "tenant_id": sequence.tenant_id,
                "workspace_id": sequence.workspace_id,
                "id": message_uuid,
                "enrollment_id": enrollment_id,
                "sequence_id": sequence.id,
                "step_id": step.id,
                "contact_id": contact.id,
                "rotation": rotation,
                "message_id": make_message_id(message_uuid.hex, sender_domain()),
                "sequence_version": sequence.published_version,
                "to_email": contact.email,
                "status": "queued",
                "attempts": 0,
                "queued_at": now,
                "next_attempt_at": now,
                "created_at": now,
                "updated_at": now,
            }
        )
    db.session.execute(insert(OutboundMessage), rows)
    db.session.commit()
    return len(rows)
