"""Portable column types: the same model works on SQLite (embedded) and PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, DateTime, Uuid, func, literal
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

# JSON everywhere, JSONB on PostgreSQL (indexable, compact).
JsonDoc = JSON().with_variant(JSONB(), "postgresql")


class UTCDateTime(TypeDecorator[datetime]):
    """Stores UTC and always hands back aware UTC datetimes, whatever the backend.

    SQLite has no time zones, so values are stored naive there and re-tagged as UTC on load;
    a naive value passed in is refused, because it would silently mean local time.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: pass an aware UTC datetime")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def uuid_pk() -> Mapped[uuid.UUID]:
    return mapped_column(Uuid, primary_key=True, default=uuid.uuid4)


def json_column(default: Any) -> Mapped[Any]:
    """A JSON column with a fresh default per row (never a shared mutable)."""
    factory = (lambda: dict(default)) if isinstance(default, dict) else (lambda: list(default))
    return mapped_column(JsonDoc, default=factory, nullable=False)


def unless_empty(column: Any, empty: dict[str, Any] | list[Any]) -> Any:
    """The JSON column, NULL when it holds the empty document: most contacts and runs have
    no fields, tags, visits or context, and decoding `{}` costs as much as a small document
    (the callers read NULL as empty)."""
    return func.nullif(column, literal(empty, column.type), type_=column.type).label(column.key)
