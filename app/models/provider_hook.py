"""Sending providers' webhooks (bounces, complaints): one endpoint per workspace and
provider, at /hooks/<provider>/<token>, with the provider's signing secret sealed."""

from __future__ import annotations

import uuid

from sqlalchemy import String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models.base import Timestamped, WorkspaceOwned
from app.models.types import uuid_pk


class ProviderHook(WorkspaceOwned, Timestamped, db.Model):
    __tablename__ = "provider_hooks"
    __table_args__ = (UniqueConstraint("workspace_id", "provider"),)

    id: Mapped[uuid.UUID] = uuid_pk()
    provider: Mapped[str] = mapped_column(String(16))  # ses | postmark | sendgrid | mailgun
    token: Mapped[str] = mapped_column(String(64), unique=True)  # the URL's secret part
    sealed_secret: Mapped[str | None] = mapped_column(Text)  # the provider's signing secret
