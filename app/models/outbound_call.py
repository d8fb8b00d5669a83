"""The call ledger: one row per outside call a step asks for (a webhook, later Slack or SMS),
recorded once and delivered by the call delivery job with retries."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models.base import Timestamped, WorkspaceOwned
from app.models.types import JsonDoc, UTCDateTime, json_column, uuid_pk

# queued -> claimed (leased by one delivery job) -> delivered | failed | queued (retry later).
# A `claimed` row whose lease ran out (its job crashed) is claimed again: at most one
# duplicate per crash, never a lost call.
CALL_STATUSES = ("queued", "claimed", "delivered", "failed")


class OutboundCall(WorkspaceOwned, Timestamped, db.Model):
    __tablename__ = "outbound_calls"
    __table_args__ = (
        UniqueConstraint("enrollment_id", "step_id", "rotation"),
        Index("ix_outbound_calls_status_due", "status", "next_attempt_at"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    enrollment_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("contact_sequences.id", ondelete="CASCADE")
    )
    sequence_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    step_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    contact_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("contacts.id", ondelete="CASCADE"), index=True
    )
    rotation: Mapped[int] = mapped_column(Integer)
    # Which handler delivers it: a module of app/services/outbound_calls.
    kind: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), default="queued")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    queued_at: Mapped[datetime] = mapped_column(UTCDateTime)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Until when the job that claimed it holds it; after that another job may claim it.
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The last answer: an HTTP status code (None when there was no answer) and why it failed.
    status_code: Mapped[int | None] = mapped_column(SmallInteger)
    last_error: Mapped[str | None] = mapped_column(Text)
    # What the target sent back, cut to a short excerpt (never the whole body).
    response_excerpt: Mapped[str | None] = mapped_column(String(500))
    # Every attempt: {"at", "status_code", "error"}; also copied to the step log's detail.
    history: Mapped[list[dict[str, Any]]] = json_column([])
    # The request as first built (e.g. the webhook's URL and JSON body), for operators.
    request: Mapped[dict[str, Any] | None] = mapped_column(JsonDoc)
