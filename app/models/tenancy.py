"""Tenants, workspaces, users and API tokens: who owns what, and who may act."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from flask_login import UserMixin
from sqlalchemy import ForeignKey, Integer, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models.base import Timestamped, WorkspaceOwned
from app.models.types import JsonDoc, UTCDateTime, uuid_pk


class Tenant(Timestamped, db.Model):
    __tablename__ = "tenants"

    id: Mapped[uuid.UUID] = uuid_pk()
    name: Mapped[str] = mapped_column(String(255))


class Workspace(Timestamped, db.Model):
    __tablename__ = "workspaces"

    id: Mapped[uuid.UUID] = uuid_pk()
    tenant_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("tenants.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(255), unique=True)
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    from_email: Mapped[str | None] = mapped_column(String(320))
    from_name: Mapped[str | None] = mapped_column(String(255))
    # At most this many emails per contact across all sequences: {"per_day": n, "per_week": n}
    frequency_cap: Mapped[dict[str, Any] | None] = mapped_column(JsonDoc)
    # Signs outbound webhooks (HMAC-SHA256); made on first use, rotated from Settings.
    webhook_secret: Mapped[str | None] = mapped_column(String(64))

    tenant: Mapped[Tenant] = relationship()


class User(UserMixin, WorkspaceOwned, Timestamped, db.Model):
    __tablename__ = "users"

    id: Mapped[uuid.UUID] = uuid_pk()
    email: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str | None] = mapped_column(String(255))
    password_hash: Mapped[str] = mapped_column(String(255))
    # Part of every session and remember cookie; raising it (sign-out, password change)
    # makes all the cookies issued before worthless.
    session_generation: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    workspace: Mapped[Workspace] = relationship()

    def get_id(self) -> str:
        """What Flask-Login stores in the session and the remember cookie."""
        return f"{self.id}:{self.session_generation}"


class ApiToken(WorkspaceOwned, Timestamped, db.Model):
    """Only a hash is stored: a leaked database does not leak working tokens. The prefix
    (`pm_` and 7 characters) is what people see to tell their tokens apart."""

    __tablename__ = "api_tokens"

    id: Mapped[uuid.UUID] = uuid_pk()
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(255))
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    workspace: Mapped[Workspace] = relationship()
