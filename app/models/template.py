"""Workspace templates: sequences saved to the gallery, stored as format v1 definitions."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models.base import Timestamped, WorkspaceOwned
from app.models.types import json_column, uuid_pk


class SequenceTemplate(WorkspaceOwned, Timestamped, db.Model):
    __tablename__ = "sequence_templates"
    __table_args__ = (UniqueConstraint("workspace_id", "name"),)

    id: Mapped[uuid.UUID] = uuid_pk()
    name: Mapped[str] = mapped_column(String(255))
    description: Mapped[str | None] = mapped_column(Text)
    definition: Mapped[dict[str, Any]] = json_column({})
    created_by: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("users.id", ondelete="SET NULL")
    )
