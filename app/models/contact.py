"""Contacts, their segments, the events they generate, the API's event receipts and the
suppression list."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    Uuid,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.core.addresses import email_key
from app.extensions import db
from app.models.base import Timestamped, WorkspaceOwned, utcnow
from app.models.indexes import trigram_indexes
from app.models.types import JsonDoc, UTCDateTime, json_column, unless_empty, uuid_pk


def _email_key_default(context: Any) -> str:
    """Every insert (ORM or bulk) derives the key from the address it stores."""
    return email_key(context.get_current_parameters()["email"])


class Contact(WorkspaceOwned, Timestamped, db.Model):
    """A person a workspace emails. `email` keeps the spelling first given; `email_key`
    (`app.core.addresses.email_key`) is what makes two spellings one contact."""

    __tablename__ = "contacts"
    __table_args__ = (
        UniqueConstraint("workspace_id", "email"),
        Index("uq_contacts_workspace_id_email_key", "workspace_id", "email_key", unique=True),
        # The contacts search and the enrollments list's contact filter: ILIKE '%word%'.
        *trigram_indexes("contacts", "email", "first_name", "last_name"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    email: Mapped[str] = mapped_column(String(320))
    email_key: Mapped[str] = mapped_column(String(320), default=_email_key_default)
    first_name: Mapped[str | None] = mapped_column(String(255))
    last_name: Mapped[str | None] = mapped_column(String(255))
    timezone: Mapped[str | None] = mapped_column(String(64))
    fields: Mapped[dict[str, Any]] = json_column({})
    tags: Mapped[list[str]] = json_column([])
    unsubscribed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


PROFILE_COLUMNS = (
    Contact.id,
    Contact.email,
    Contact.first_name,
    Contact.last_name,
    Contact.timezone,
    Contact.fields,
    Contact.tags,
    Contact.unsubscribed_at,
)
"""What bulk paths read of a contact without loading ORM objects: identity and profile."""

_EMPTY_DOCUMENTS: dict[str, Any] = {"fields": {}, "tags": []}
SPARSE_PROFILE_COLUMNS = tuple(
    unless_empty(column, _EMPTY_DOCUMENTS[column.key]) if column.key in _EMPTY_DOCUMENTS else column
    for column in PROFILE_COLUMNS
)
"""`PROFILE_COLUMNS` with empty fields and tags read as NULL (`unless_empty`), for a hot
path that reads many contacts and reads NULL as empty."""


class Segment(WorkspaceOwned, Timestamped, db.Model):
    __tablename__ = "segments"
    __table_args__ = (UniqueConstraint("workspace_id", "name"),)

    id: Mapped[uuid.UUID] = uuid_pk()
    name: Mapped[str] = mapped_column(String(255))
    kind: Mapped[str] = mapped_column(String(16), default="static")  # static | rule
    rule: Mapped[dict[str, Any] | None] = mapped_column(JsonDoc)


class SegmentMembership(WorkspaceOwned, db.Model):
    __tablename__ = "segment_memberships"

    segment_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("segments.id", ondelete="CASCADE"), primary_key=True
    )
    contact_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("contacts.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    joined_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ContactEvent(WorkspaceOwned, db.Model):
    """Everything a contact did or had happen to them, attributed where known."""

    __tablename__ = "contact_events"
    __table_args__ = (
        Index("ix_contact_events_contact_type_time", "contact_id", "type", "occurred_at"),
        Index(  # engagement per message
            "ix_contact_events_message_id",
            "message_id",
            postgresql_where=text("message_id IS NOT NULL"),
            sqlite_where=text("message_id IS NOT NULL"),
        ),
        # Retention (services/retention.py) finds old events not about a message by age.
        Index(
            "ix_contact_events_retention",
            "occurred_at",
            postgresql_where=text("message_id IS NULL"),
            sqlite_where=text("message_id IS NULL"),
        ),
    )

    # No foreign keys to the owners (migration 0029): the contact's cascades instead.
    tenant_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    workspace_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
    )
    contact_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("contacts.id", ondelete="CASCADE")
    )
    type: Mapped[str] = mapped_column(String(64))
    properties: Mapped[dict[str, Any]] = json_column({})
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    source: Mapped[str] = mapped_column(String(32))  # api | engine | tracking | ui | import
    enrollment_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    step_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    message_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)

    @classmethod
    def about_message(
        cls, message: Any, kind: str, properties: dict[str, Any], now: datetime, source: str
    ) -> ContactEvent:
        """An engagement event attributed to the message's contact, enrollment and step.

        `message` is an OutboundMessage or any row with the same id columns."""
        return cls(
            tenant_id=message.tenant_id,
            workspace_id=message.workspace_id,
            contact_id=message.contact_id,
            type=kind,
            properties=properties,
            occurred_at=now,
            recorded_at=now,
            source=source,
            enrollment_id=message.enrollment_id,
            step_id=message.step_id,
            message_id=message.id,
        )


class EventReceipt(WorkspaceOwned, db.Model):
    """A client's event id seen by the events API: a repeat within the window is a duplicate.

    Receipts only matter for a day; `purge_event_receipts` deletes older ones, and an older
    one that is still there counts for nothing (the same id then stores a new event).
    """

    __tablename__ = "event_receipts"
    __table_args__ = (
        UniqueConstraint("workspace_id", "client_event_id"),
        Index("ix_event_receipts_received_at", "received_at"),
    )

    # No foreign keys to the owners, and no index of its own on the workspace (migration
    # 0030): the unique key leads with it, and receipts are purged by age.
    tenant_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    workspace_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
    )
    client_event_id: Mapped[str] = mapped_column(String(200))
    payload_hash: Mapped[str] = mapped_column(String(64))  # sha256 hex of the canonical event
    event_id: Mapped[int | None] = mapped_column(BigInteger)  # the ContactEvent it stored
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)


class EventReaction(db.Model):
    """An event from the events API whose reactions (trigger enrollment, goals, segments)
    have yet to run: the request stores the event and this row in one statement and
    answers; the processor's next pass reacts to a batch of them and deletes the rows.
    `claimed_until` is the lease of the pass working on it (a crashed pass's rows are
    taken over when it ends). An id whose event is gone (contact deleted) is dropped."""

    __tablename__ = "event_reactions"

    event_id: Mapped[int] = mapped_column(  # no foreign key: see migration 0026
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True
    )
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime)


SUPPRESSION_REASONS = ("unsubscribed", "bounced", "complained")


class Suppression(WorkspaceOwned, db.Model):
    """An address the workspace must not email again, and why; emails are stored lowercased."""

    __tablename__ = "suppressions"
    __table_args__ = (UniqueConstraint("workspace_id", "email"),)

    id: Mapped[uuid.UUID] = uuid_pk()
    email: Mapped[str] = mapped_column(String(320))
    reason: Mapped[str] = mapped_column(String(16))  # unsubscribed | bounced | complained
    detail: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
