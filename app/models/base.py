"""Mixins shared by every customer table: ownership by workspace and audit timestamps."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, Self

from sqlalchemy import ForeignKey, Select, Uuid, select
from sqlalchemy.orm import Mapped, declared_attr, mapped_column

from app.models.types import UTCDateTime


def utcnow() -> datetime:
    """Audit timestamps only; the engine never calls this (it is handed `now`)."""
    return datetime.now(UTC)


class Timestamped:
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class WorkspaceOwned:
    """A row that belongs to one workspace (and its tenant).

    `in_workspace` is the one way to query such rows, so forgetting the scope is hard.
    """

    @declared_attr
    def tenant_id(cls) -> Mapped[uuid.UUID]:
        return mapped_column(Uuid, ForeignKey("tenants.id", ondelete="CASCADE"))

    @declared_attr
    def workspace_id(cls) -> Mapped[uuid.UUID]:
        return mapped_column(Uuid, ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)

    @classmethod
    def in_workspace(cls, workspace_id: uuid.UUID, *criteria: Any) -> Select[tuple[Self]]:
        return select(cls).where(cls.workspace_id == workspace_id, *criteria)  # type: ignore[attr-defined]
