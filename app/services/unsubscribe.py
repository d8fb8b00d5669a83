"""Stopping mail to a contact who asked, from a signed link in one of our messages."""

from __future__ import annotations

from datetime import datetime

from app.core.events import UNSUBSCRIBED
from app.extensions import db
from app.models import Contact, ContactEvent, OutboundMessage
from app.services.contact_changes import record_events
from app.services.links import read_unsubscribe_token
from app.services.suppression import exit_enrollments, suppress


def unsubscribe_by_token(token: str, now: datetime, one_click: bool) -> bool:
    """Mark the message's contact unsubscribed (once) and record why, put the address on the
    suppression list and end the contact's active enrollments, in one transaction; then
    segments react (a rule may test the event). False for a bad token."""
    message_uuid = read_unsubscribe_token(token)
    message = db.session.get(OutboundMessage, message_uuid) if message_uuid else None
    if message is None:
        return False
    contact = db.session.get_one(Contact, message.contact_id)
    events = []
    if contact.unsubscribed_at is None:
        contact.unsubscribed_at = now
        method = {"method": "one_click" if one_click else "link"}
        events.append(ContactEvent.about_message(message, UNSUBSCRIBED, method, now, "tracking"))
    suppress(contact.workspace_id, contact.email, "unsubscribed", now)
    exit_enrollments(contact.workspace_id, [contact.id], "unsubscribed", now)
    record_events(events, now)
    return True
