"""Indexes only PostgreSQL has: trigram (pg_trgm) GIN indexes that make `ILIKE '%word%'`
an index lookup instead of reading every row. SQLite, the embedded database, has no
equivalent and searches by scanning, which is fine at its sizes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import Index

POSTGRESQL_ONLY: set[str] = set()
"""Names of the indexes made on PostgreSQL only, for comparing models with migrations."""


def trigram_indexes(table: str, *columns: str) -> list[Index]:
    """One GIN trigram index per column, created on PostgreSQL only (migration 0021)."""
    made = []
    for column in columns:
        name = f"ix_{table}_{column}_trgm"
        POSTGRESQL_ONLY.add(name)
        made.append(
            Index(
                name, column, postgresql_using="gin", postgresql_ops={column: "gin_trgm_ops"}
            ).ddl_if(dialect="postgresql")
        )
    return made


def include_object(dialect: str) -> Callable[..., bool]:
    """Alembic's `include_object` for this dialect: PostgreSQL-only indexes are not part
    of the schema elsewhere (Alembic compares them regardless of `ddl_if`)."""

    def include(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
        return not (type_ == "index" and name in POSTGRESQL_ONLY and dialect != "postgresql")

    return include
