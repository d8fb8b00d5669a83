"""A sequence and its graph: steps (nodes) and connections (edges), stored as rows."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models.base import Timestamped, WorkspaceOwned, utcnow
from app.models.types import JsonDoc, UTCDateTime, json_column, uuid_pk


class Sequence(WorkspaceOwned, Timestamped, db.Model):
    __tablename__ = "sequences"
    __table_args__ = (
        Index("ix_sequences_tenant", "tenant_id"),
        Index("ix_sequences_status", "status"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    name: Mapped[str] = mapped_column(String(255))
    description: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(50), default="draft")
    trigger_config: Mapped[dict[str, Any] | None] = mapped_column(JsonDoc)
    exit_config: Mapped[dict[str, Any] | None] = mapped_column(JsonDoc)
    re_enrollment_config: Mapped[dict[str, Any] | None] = mapped_column(JsonDoc)
    goals_config: Mapped[list[dict[str, Any]]] = json_column([])
    settings: Mapped[dict[str, Any]] = json_column({})
    # The edit counter: every saved change claims the next one (services/versioning.py).
    version: Mapped[int] = mapped_column(Integer, default=1)
    # The live published version (sequence_versions.number); None until first activated.
    published_version: Mapped[int | None] = mapped_column(Integer)
    # Set on the draft of the next version of a published sequence: the live sequence it
    # will replace when published, and the live version it was started from.
    draft_of_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("sequences.id", ondelete="CASCADE"), index=True, unique=True
    )
    draft_base: Mapped[int | None] = mapped_column(Integer)
    # Draw numbers handed out so far, one per enrollment run (see ContactSequence.draw).
    draws: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_by: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("users.id", ondelete="SET NULL")
    )
    archived_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The launch checklist asks for a test send; when and to whom the last one went.
    test_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    test_sent_to: Mapped[str | None] = mapped_column(String(320))

    # The live graph: steps a published version removed stay as retired rows (enrollments
    # finishing on an older version still point at them) but are not part of it.
    steps: Mapped[list[SequenceStep]] = relationship(
        back_populates="sequence",
        primaryjoin="and_(Sequence.id == foreign(SequenceStep.sequence_id), "
        "SequenceStep.retired_in.is_(None))",
        order_by="SequenceStep.sort_order",
        cascade="all, delete-orphan",
        passive_deletes=True,
    )
    connections: Mapped[list[SequenceConnection]] = relationship(
        cascade="all, delete-orphan", passive_deletes=True, order_by="SequenceConnection.sort_order"
    )

    @classmethod
    def listed(cls) -> ColumnElement[bool]:
        """Sequences in lists and choices: not the hidden draft of another's next version."""
        return cls.draft_of_id.is_(None)


class SequenceStep(Timestamped, db.Model):
    __tablename__ = "sequence_steps"
    __table_args__ = (UniqueConstraint("sequence_id", "key"),)

    id: Mapped[uuid.UUID] = uuid_pk()
    sequence_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("sequences.id", ondelete="CASCADE"), index=True
    )
    key: Mapped[str] = mapped_column(String(64))  # the author's stable id ("step_1")
    parent_step_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("sequence_steps.id", ondelete="SET NULL")
    )
    name: Mapped[str | None] = mapped_column(String(255))
    type: Mapped[str] = mapped_column(String(50))
    config: Mapped[dict[str, Any]] = json_column({})
    ui_position_x: Mapped[int | None] = mapped_column(Integer)
    ui_position_y: Mapped[int | None] = mapped_column(Integer)
    sort_order: Mapped[int] = mapped_column(Integer, default=0)
    # The published version that removed this step; None while it is in the live graph.
    retired_in: Mapped[int | None] = mapped_column(Integer)

    sequence: Mapped[Sequence] = relationship(
        back_populates="steps",
        primaryjoin="and_(Sequence.id == foreign(SequenceStep.sequence_id), "
        "SequenceStep.retired_in.is_(None))",
    )


class SequenceConnection(db.Model):
    __tablename__ = "sequence_connections"

    id: Mapped[uuid.UUID] = uuid_pk()
    sequence_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("sequences.id", ondelete="CASCADE"), index=True
    )
    source_step_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("sequence_steps.id", ondelete="CASCADE"), index=True
    )
    target_step_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("sequence_steps.id", ondelete="CASCADE")
    )
    condition_label: Mapped[str | None] = mapped_column(String(50))
    condition_expression: Mapped[dict[str, Any] | None] = mapped_column(JsonDoc)
    sort_order: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
