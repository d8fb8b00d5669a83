"""Stopping mail to a contact who asked (from a signed link in one of our messages, or by
hand on the contact's page), and allowing it again by hand. One path for both ways out:
the contact marked unsubscribed, the address suppressed, the active enrollments ended, the
event recorded through `record_events` (so segments and goals react as to any change)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select

from app.core.events import RESUBSCRIBED, UNSUBSCRIBED
from app.extensions import db
from app.models import Contact, ContactEvent, OutboundMessage, Sequence, SequenceStep, Workspace
from app.services.contact_changes import record_events
from app.services.dispatcher import sender_name
from app.services.links import read_unsubscribe_token
from app.services.suppression import exit_enrollments, suppress, unsuppress


def sender_of(token: str) -> str | None:
    """Who the message's reader knows as its sender (the name it went out under, else the
    workspace's name): the unsubscribe page speaks for them, not for the product. None for a
    bad token."""
    message_uuid = read_unsubscribe_token(token)
    row = (
        message_uuid
        and db.session.execute(
            select(SequenceStep.config, Sequence.settings, Workspace.from_name, Workspace.name)
            .select_from(OutboundMessage)
            .join(SequenceStep, SequenceStep.id == OutboundMessage.step_id)
            .join(Sequence, Sequence.id == OutboundMessage.sequence_id)
            .join(Workspace, Workspace.id == OutboundMessage.workspace_id)
            .where(OutboundMessage.id == message_uuid)
        ).first()
    )
    if not row:
        return None
    return sender_name(row.config or {}, row.settings or {}, row.from_name) or row.name


def unsubscribe_by_token(token: str, now: datetime, one_click: bool) -> bool:
    """Unsubscribe the message's contact, the event attributed to the message; False for a
    bad token."""
    message_uuid = read_unsubscribe_token(token)
    message = db.session.get(OutboundMessage, message_uuid) if message_uuid else None
    if message is None:
        return False
    contact = db.session.get_one(Contact, message.contact_id)
    method = {"method": "one_click" if one_click else "link"}
    unsubscribe(
        contact, now, ContactEvent.about_message(message, UNSUBSCRIBED, method, now, "tracking")
    )
    return True


def unsubscribe_by_hand(contact: Contact, now: datetime, by: str) -> None:
    """A user unsubscribes the contact from its page (they asked by phone, by reply...)."""
    unsubscribe(contact, now, _event(contact, UNSUBSCRIBED, {"method": "manual", "by": by}, now))


def unsubscribe(contact: Contact, now: datetime, event: ContactEvent) -> None:
    """Mark the contact unsubscribed (once: `event` is recorded only then), put the address
    on the suppression list and end the contact's active enrollments, in one transaction."""
    events = []
    if contact.unsubscribed_at is None:
        contact.unsubscribed_at = now
        events.append(event)
    suppress(contact.workspace_id, contact.email, "unsubscribed", now)
    exit_enrollments(contact.workspace_id, [contact.id], "unsubscribed", now)
    record_events(events, now)


def allow_email_again(contact: Contact, now: datetime, by: str) -> bool:
    """Lift the contact's unsubscribe and the address's suppression (whatever its reason),
    recording a `resubscribed` event; False when neither was set. Enrollments that ended
    stay ended: the contact is enrolled again only by a trigger or by hand."""
    lifted = unsuppress(contact.workspace_id, contact.email)
    was = contact.unsubscribed_at
    if was is None and lifted is None:
        db.session.rollback()
        return False
    contact.unsubscribed_at = None
    properties: dict[str, Any] = {"by": by, "suppressed_for": lifted}
    record_events([_event(contact, RESUBSCRIBED, properties, now)], now)
    return True


def _event(contact: Contact, kind: str, properties: dict[str, Any], now: datetime) -> ContactEvent:
    return ContactEvent(
        tenant_id=contact.tenant_id,
        workspace_id=contact.workspace_id,
        contact_id=contact.id,
        type=kind,
        properties=properties,
        occurred_at=now,
        recorded_at=now,
        source="ui",
    )
