"""A CSV import of contacts, processed in chunks by the scheduler so the page can show progress."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Integer, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models.base import Timestamped, WorkspaceOwned
from app.models.types import UTCDateTime, json_column, uuid_pk


class ContactImport(WorkspaceOwned, Timestamped, db.Model):
    __tablename__ = "contact_imports"

    id: Mapped[uuid.UUID] = uuid_pk()
    filename: Mapped[str] = mapped_column(String(255))
    content: Mapped[str] = mapped_column(Text)  # the uploaded CSV, cleared when done
    status: Mapped[str] = mapped_column(
        String(16), default="pending"
    )  # pending|running|done|failed
    segment_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("segments.id", ondelete="SET NULL")
    )
    total_rows: Mapped[int] = mapped_column(Integer, default=0)
    processed_rows: Mapped[int] = mapped_column(Integer, default=0)
    created_count: Mapped[int] = mapped_column(Integer, default=0)
    updated_count: Mapped[int] = mapped_column(Integer, default=0)
    suppressed_count: Mapped[int] = mapped_column(Integer, default=0)
    errors: Mapped[list[dict[str, Any]]] = json_column([])  # [{"row": 7, "field", "message"}]
    created_by: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("users.id", ondelete="SET NULL")
    )
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
