"""The last time a client's open or click of a message was recorded, to drop repeats."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models.types import UTCDateTime


class TrackingHit(db.Model):
    """One (message, event, client) whose event was recorded at `recorded_at`: the same hit
    again within the dedup window stores nothing. Rows older than the window count for
    nothing and `purge_tracking_hits` deletes them, so the table stays small."""

    __tablename__ = "tracking_hits"
    __table_args__ = (Index("ix_tracking_hits_recorded_at", "recorded_at"),)

    message_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("outbound_messages.id", ondelete="CASCADE"), primary_key=True
    )
    event_key: Mapped[str] = mapped_column(String(40), primary_key=True)  # opened, clicked_link:2
    client_hash: Mapped[str] = mapped_column(String(64), primary_key=True)  # sha256 hex
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime)
