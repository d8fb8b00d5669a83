"""A workspace's sending domains: the DKIM key that signs its mail (sealed), the DNS records
to publish, what the last check found, and the domain's sending limits."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models.base import Timestamped, WorkspaceOwned
from app.models.types import JsonDoc, UTCDateTime, uuid_pk


class SendingDomain(WorkspaceOwned, Timestamped, db.Model):
    __tablename__ = "sending_domains"
    __table_args__ = (UniqueConstraint("workspace_id", "domain"),)

    id: Mapped[uuid.UUID] = uuid_pk()
    domain: Mapped[str] = mapped_column(String(253))
    selector: Mapped[str] = mapped_column(String(63))
    sealed_private_key: Mapped[str] = mapped_column(Text)  # PEM, sealed (services/secret_box)
    public_key: Mapped[str] = mapped_column(Text)  # base64 DER, the p= of the DKIM record
    verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_check: Mapped[dict[str, Any] | None] = mapped_column(JsonDoc)
    # Sending limits of the domain: at most `daily_cap` emails per UTC day, and at least
    # `min_spacing_seconds` between two sends (spread over the window, not a burst).
    daily_cap: Mapped[int | None] = mapped_column(Integer)
    min_spacing_seconds: Mapped[int | None] = mapped_column(Integer)
