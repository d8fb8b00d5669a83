"""Stopping mail to a contact who asked, from a signed link in one of our messages."""

from __future__ import annotations

from datetime import datetime

from app.extensions import db
from app.models import Contact, ContactEvent, OutboundMessage
from app.services.links import read_unsubscribe_token
from app.services.suppression import exit_enrollments, suppress


def unsubscribe_by_token(token: str, now: datetime, one_click: bool) -> bool:
    """Mark the message's contact unsubscribed (once) and record why, put the address on the
    suppression list and end the contact's active enrollments, in one transaction; False for
    a bad token."""
    message_uuid = read_unsubscribe_token(token)
    message = db.session.get(OutboundMessage, message_uuid) if message_uuid else None
    if message is None:
        return False
    contact = db.session.get_one(Contact, message.contact_id)
    if contact.unsubscribed_at is None:
        contact.unsubscribed_at = now
        db.session.add(
            ContactEvent(
                tenant_id=contact.tenant_id,
                workspace_id=contact.workspace_id,
                contact_id=contact.id,
                type="unsubscribed",
                properties={"method": "one_click" if one_click else "link"},
                occurred_at=now,
                source="tracking",
                enrollment_id=message.enrollment_id,
                step_id=message.step_id,
                message_id=message.id,
            )
        )
    suppress(contact.workspace_id, contact.email, "unsubscribed", now)
    exit_enrollments(contact.workspace_id, [contact.id], "unsubscribed", now)
    db.session.commit()
    return True
