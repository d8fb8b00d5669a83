"""The send ledger: one row per email a step produces, guarded so it is never sent twice."""

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
)
from sqlalchemy import text as sql_text
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models.base import Timestamped, WorkspaceOwned
from app.models.types import JsonDoc, UTCDateTime, uuid_pk

# queued -> claimed (leased by one dispatcher) -> sending (its own SMTP transaction) -> sent |
# failed | queued (retry) | unknown (the transaction broke off: it may have been delivered);
# claimed -> captured | failed | skipped | queued without SMTP. Recovery: an expired `claimed`
# lease goes back to queued, an expired `sending` one to unknown. An operator may cancel a
# queued message (never sent afterwards; its run goes on without it).
MESSAGE_STATUSES = (
    "queued", "claimed", "sending", "sent", "captured", "failed", "skipped", "unknown",
    "cancelled",
)  # fmt: skip
SENT_STATUSES = ("sent", "captured")
RESENDABLE = ("unknown", "failed")
"""What an operator may send again: an interrupted SMTP transaction (it may or may not have
arrived: they check first) or a message that failed. A cancelled one stays cancelled."""


def requeued(now: datetime) -> dict[str, Any]:
    """The columns sending a message again writes (the outbox's Retry, an enrollment's
    re-send): a fresh send, its attempts starting over."""
    return {
        "status": "queued",
        "attempts": 0,
        "next_attempt_at": now,
        "last_error": None,
        "updated_at": now,
    }


"""Messages that went out (captured: rendered with no SMTP server configured); the
denominator of every engagement rate."""


class OutboundMessage(WorkspaceOwned, Timestamped, db.Model):
    __tablename__ = "outbound_messages"
    __table_args__ = (
        UniqueConstraint("enrollment_id", "step_id", "rotation"),
        Index("ix_outbound_messages_status_due", "status", "next_attempt_at"),
        Index("ix_outbound_messages_step_variant", "step_id", "variant_key"),
        Index("ix_outbound_messages_sender_day", "workspace_id", "sender_domain", "sent_at"),
        # The outbox pages newest first by (queued_at, id) (services/outbox.py): a first page
        # reads about a page of entries, for the workspace or for one sequence.
        Index("ix_outbound_messages_outbox", "workspace_id", "queued_at", "id"),
        Index("ix_outbound_messages_outbox_sequence", "sequence_id", "queued_at", "id"),
        # Retention (services/retention.py) finds the bodies to trim oldest first; a trimmed
        # message leaves the index, so a pass never reads what earlier passes did.
        Index(
            "ix_outbound_messages_retention",
            "queued_at",
            postgresql_where=sql_text("html IS NOT NULL"),
            sqlite_where=sql_text("html IS NOT NULL"),
        ),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    # No index of its own: ix_outbound_messages_outbox leads with it, and every index costs
    # a message an entry at each of its writes (queued, claimed, sending, sent).
    workspace_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("workspaces.id", ondelete="CASCADE")
    )
    enrollment_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("contact_sequences.id", ondelete="CASCADE")
    )
    sequence_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    step_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    contact_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("contacts.id", ondelete="CASCADE"), index=True
    )
    rotation: Mapped[int] = mapped_column(Integer)
    message_id: Mapped[str] = mapped_column(String(255), unique=True)
    variant_key: Mapped[str | None] = mapped_column(String(32))
    # The published sequence version that queued it: its content is rendered from that
    # version (a message queued before a publish is sent as it was queued).
    sequence_version: Mapped[int | None] = mapped_column(Integer)
    # The domain of the From address it was sent from: a sending domain's daily cap counts it.
    sender_domain: Mapped[str | None] = mapped_column(String(253))
    to_email: Mapped[str] = mapped_column(String(320))
    status: Mapped[str] = mapped_column(String(16), default="queued")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    queued_at: Mapped[datetime] = mapped_column(UTCDateTime)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime)
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Until when the dispatcher that claimed it (or is sending it) holds it; after that,
    # recovery decides: never handed to SMTP -> queued again, mid-transaction -> unknown.
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # When the SMTP server answered 250 to the message's DATA.
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    # {"window": {...}, "zone": "America/New_York"} when a delivery window governs the send:
    # a batch still in flight when the window closes waits for the next one.
    send_window: Mapped[dict[str, Any] | None] = mapped_column(JsonDoc)
    subject: Mapped[str | None] = mapped_column(Text)
    html: Mapped[str | None] = mapped_column(Text)
    text: Mapped[str | None] = mapped_column(Text)
    # The original URLs of the tracked links in `html`, index = the position a click token names.
    links: Mapped[list[str] | None] = mapped_column(JsonDoc)


class MessageAttempt(WorkspaceOwned, db.Model):
    """One SMTP transaction (or refusal before one) for a message: what the server answered,
    so an operator can see every try, not only the last error. Without a reply (no
    connection, a refused template, a broken-off transaction) `smtp_code` is empty and
    `smtp_answer` says why."""

    __tablename__ = "message_attempts"

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
    )
    message_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("outbound_messages.id", ondelete="CASCADE"), index=True
    )
    attempt: Mapped[int] = mapped_column(Integer)  # the message's `attempts` after this try
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    outcome: Mapped[str] = mapped_column(String(16))  # sent | retry | failed | unknown | ...
    smtp_code: Mapped[int | None] = mapped_column(Integer)
    smtp_answer: Mapped[str | None] = mapped_column(Text)
