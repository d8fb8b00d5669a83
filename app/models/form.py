"""Hosted forms (one per form trigger name) and the log of submissions, used to rate-limit."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models.base import Timestamped, WorkspaceOwned
from app.models.types import UTCDateTime, json_column, uuid_pk


class Form(WorkspaceOwned, Timestamped, db.Model):
    """A form that `form_submission` triggers name; served at `/f/<public_id>`."""

    __tablename__ = "forms"
    __table_args__ = (UniqueConstraint("workspace_id", "name"),)

    id: Mapped[uuid.UUID] = uuid_pk()
    name: Mapped[str] = mapped_column(String(255))
    public_id: Mapped[str] = mapped_column(String(32), unique=True)
    fields: Mapped[list[dict[str, Any]]] = json_column([])
    settings: Mapped[dict[str, Any]] = json_column({})


class FormSubmission(WorkspaceOwned, db.Model):
    """One POST to a hosted form and what became of it (accepted, honeypot, rate_limited)."""

    __tablename__ = "form_submissions"
    __table_args__ = (
        Index("ix_form_submissions_form_ip_time", "form_id", "ip_hash", "submitted_at"),
    )

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
    )
    form_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("forms.id", ondelete="CASCADE"))
    contact_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("contacts.id", ondelete="SET NULL")
    )
    ip_hash: Mapped[str] = mapped_column(String(64))
    outcome: Mapped[str] = mapped_column(String(16))
    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime)
