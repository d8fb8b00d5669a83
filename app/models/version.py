"""Published versions of a sequence: immutable snapshots of what ran, and the plan applied."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Integer, String, Text, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models.base import WorkspaceOwned
from app.models.types import UTCDateTime, json_column


class SequenceVersion(WorkspaceOwned, db.Model):
    """Version `number` of a sequence as published: the format v1 definition, the step row
    behind each step id (so runs still on this version find their steps), and the plan that
    moved the contacts in flight when it went live."""

    __tablename__ = "sequence_versions"
    __table_args__ = (UniqueConstraint("sequence_id", "number"),)

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
    )
    sequence_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("sequences.id", ondelete="CASCADE"), index=True
    )
    number: Mapped[int] = mapped_column(Integer)
    definition: Mapped[dict[str, Any]] = json_column({})
    step_ids: Mapped[dict[str, str]] = json_column({})
    plan: Mapped[list[dict[str, Any]]] = json_column([])
    note: Mapped[str | None] = mapped_column(Text)
    published_by: Mapped[str | None] = mapped_column(String(320))
    published_at: Mapped[datetime] = mapped_column(UTCDateTime)
