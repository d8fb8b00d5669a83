"""Removing a contact: delete (the contact and everything recorded about them) or erase
(GDPR-style: nothing that identifies the person is kept, the sequences' figures are).

What erasing keeps, and why: the contact row (renamed to an address at the reserved
`.invalid` domain, so nobody can be re-identified or emailed through it) and its
enrollments, step log, runs, conversions and sent messages, because a sequence's report
counts those rows (entered, sent, converted per step); the events that make a step's
figures (opens, clicks, replies, unsubscribes, bounces and complaints of one of our
emails), emptied of their properties. Everything else goes: names, time zone, custom
fields, tags, segment memberships, every other event (field changes, page views, form
data), the messages' address, subject and content, the SMTP answers that may quote the
address, and the enrollments' trigger data. Active enrollments end and queued emails are
skipped. A suppression-list entry stays: it is the record that the address must not be
emailed, which erasing must not undo.

Deleting removes the contact row; the database cascades to its events, enrollments (with
their step log, runs and conversions), messages, calls and memberships, so the reports
no longer count them.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import and_, delete, select, update

from app.extensions import db
from app.models import (
    Contact,
    ContactEvent,
    ContactSequence,
    MessageAttempt,
    OutboundMessage,
    SegmentMembership,
)
from app.services.analytics import ENGAGEMENT
from app.services.reactions import after_change
from app.services.suppression import exit_enrollments

ERASED_DOMAIN = "erased.invalid"
"""Where an erased contact's address points: `.invalid` is reserved, never deliverable."""
ERASED_REASON = "contact erased"


def erased_address(contact: Contact) -> str:
    return f"erased-{contact.id.hex}@{ERASED_DOMAIN}"


def is_erased(contact: Contact) -> bool:
    return contact.email == erased_address(contact)


def delete_contact(contact: Contact) -> None:
    """Delete the contact and, by cascade, all it left behind; commits. Segments whose
    rules counted the contact lose it with its memberships."""
    db.session.delete(contact)
    db.session.commit()


def erase_contact(contact: Contact, now: datetime) -> None:
    """Erase what identifies the contact and keep the figures (see the module); commits,
    then segments react (the contact has no tags or fields left). A fixed number of
    statements whatever the contact's history."""
    workspace_id, contact_id = contact.workspace_id, contact.id
    address = erased_address(contact)
    exit_enrollments(workspace_id, [contact_id], ERASED_REASON, now)
    mine = (OutboundMessage.workspace_id == workspace_id, OutboundMessage.contact_id == contact_id)
    db.session.execute(
        update(OutboundMessage)
        .where(*mine, OutboundMessage.status == "queued")
        .values(status="skipped", last_error=ERASED_REASON, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    db.session.execute(
        update(OutboundMessage)
        .where(*mine)
        .values(to_email=address, subject=None, html=None, text=None, links=None)
        .execution_options(synchronize_session=False)
    )
    db.session.execute(
        update(MessageAttempt)
        .where(MessageAttempt.message_id.in_(select(OutboundMessage.id).where(*mine)))
        .values(smtp_answer=None)
        .execution_options(synchronize_session=False)
    )
    db.session.execute(
        update(ContactSequence)
        .where(ContactSequence.workspace_id == workspace_id)
        .where(ContactSequence.contact_id == contact_id)
        .values(context_data={})
        .execution_options(synchronize_session=False)
    )
    counted = and_(ContactEvent.type.in_(ENGAGEMENT), ContactEvent.message_id.is_not(None))
    events = (ContactEvent.workspace_id == workspace_id, ContactEvent.contact_id == contact_id)
    db.session.execute(
        delete(ContactEvent).where(*events, ~counted).execution_options(synchronize_session=False)
    )
    db.session.execute(
        update(ContactEvent)
        .where(*events)
        .values(properties={})
        .execution_options(synchronize_session=False)
    )
    db.session.execute(
        delete(SegmentMembership).where(
            SegmentMembership.workspace_id == workspace_id,
            SegmentMembership.contact_id == contact_id,
        )
    )
    contact.email = address
    contact.email_key = address
    contact.first_name = contact.last_name = contact.timezone = None
    contact.fields, contact.tags = {}, []
    contact.unsubscribed_at = contact.unsubscribed_at or now
    db.session.commit()
    after_change(workspace_id, {contact_id}, [], now)
