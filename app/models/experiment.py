"""A/B test decisions: the winner of an email step's test (or its stop), with the figures."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models.base import WorkspaceOwned
from app.models.types import JsonDoc, UTCDateTime, uuid_pk

AB_DECIDERS = ("auto", "fallback", "hand")


class AbTestDecision(WorkspaceOwned, db.Model):
    """One per email step at most: while there is none the test is collecting.

    `state` decided (every new send uses `winner`) | stopped (no winner: the split goes
    on, the test no longer decides). `figures` are the counts and statistics the decision
    saw, so the report can show why, long after the numbers have moved on."""

    __tablename__ = "ab_test_decisions"

    id: Mapped[uuid.UUID] = uuid_pk()
    sequence_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("sequences.id", ondelete="CASCADE"), index=True
    )
    step_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("sequence_steps.id", ondelete="CASCADE"), unique=True
    )
    state: Mapped[str] = mapped_column(String(16))
    winner: Mapped[str | None] = mapped_column(String(32))
    metric: Mapped[str] = mapped_column(String(32))
    decided_by: Mapped[str] = mapped_column(String(16))  # auto | fallback | hand
    actor: Mapped[str | None] = mapped_column(String(320))  # who, when by hand
    reason: Mapped[str | None] = mapped_column(Text)
    figures: Mapped[dict[str, Any]] = mapped_column(JsonDoc)
    decided_at: Mapped[datetime] = mapped_column(UTCDateTime)
