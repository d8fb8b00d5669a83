"""Set-based writes for hot paths: COPY on PostgreSQL, executemany elsewhere.

PostgreSQL's COPY loads thousands of rows per round trip with no SQL to parse per row;
SQLite runs in-process, where executemany is already cheap.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from psycopg import Copy
from sqlalchemy import JSON, Table, bindparam, insert, update

from app.extensions import db


def insert_rows(table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """Insert rows (dicts with the same keys) inside the session's current transaction."""
    if not rows:
        return
    connection = db.session.connection()
    if connection.dialect.name != "postgresql":
        connection.execute(insert(table), list(rows))
        return
    columns = list(rows[0])
    raw = connection.connection.dbapi_connection
    assert raw is not None
    with raw.cursor() as cursor:
        quoted = ", ".join(f'"{name}"' for name in columns)
        with cursor.copy(f'COPY "{table.name}" ({quoted}) FROM STDIN') as copy:
            _copy_rows(copy, table, columns, rows)


def update_rows(table: Table, rows: Sequence[dict[str, Any]], key: str = "id") -> None:
    """Update many rows by key, each with its own values (every dict has the same keys).

    On PostgreSQL the values are COPYed into a temporary table and applied by one
    UPDATE ... FROM, instead of one UPDATE per row.
    """
    if not rows:
        return
    columns = [name for name in rows[0] if name != key]
    connection = db.session.connection()
    if connection.dialect.name != "postgresql":
        statement = (
            update(table)
            .where(table.c[key] == bindparam(f"b_{key}"))
            .values({name: bindparam(f"b_{name}") for name in columns})
        )
        connection.execute(statement, [{f"b_{k}": v for k, v in row.items()} for row in rows])
        return
    staging = f"_staged_{table.name}_{abs(hash(tuple(columns))) % 10**8}"
    quoted = ", ".join(f'"{name}"' for name in [key, *columns])
    raw = connection.connection.dbapi_connection
    assert raw is not None
    with raw.cursor() as cursor:
        cursor.execute(
            f'CREATE TEMP TABLE IF NOT EXISTS "{staging}" ON COMMIT DELETE ROWS '
            f'AS SELECT {quoted} FROM "{table.name}" WITH NO DATA'
        )
        with cursor.copy(f'COPY "{staging}" ({quoted}) FROM STDIN') as copy:
            _copy_rows(copy, table, [key, *columns], rows)
        assignments = ", ".join(f'"{name}" = s."{name}"' for name in columns)
        cursor.execute(
            f'UPDATE "{table.name}" AS t SET {assignments} '
            f'FROM "{staging}" AS s WHERE t."{key}" = s."{key}"'
        )


def _copy_rows(
    copy: Copy, table: Table, columns: list[str], rows: Sequence[dict[str, Any]]
) -> None:
    """Stream rows into COPY; JSON columns travel as their text, psycopg adapts the rest."""
    json_columns = [i for i, name in enumerate(columns) if isinstance(table.c[name].type, JSON)]
    for row in rows:
        values = [row[name] for name in columns]
        for i in json_columns:
            if values[i] is not None:
                values[i] = json.dumps(values[i], separators=(",", ":"))
        copy.write_row(values)
