"""PostgreSQL statistics a test sets up and keeps, for checks that a query stays bounded
whatever the planner believes about a table."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from sqlalchemy import text

from app.extensions import db


@contextmanager
def statistics_kept(table: str) -> Iterator[None]:
    """No autovacuum of `table` inside: its statistics stay those the test took."""
    db.session.execute(text(f"ALTER TABLE {table} SET (autovacuum_enabled = off)"))
    db.session.commit()
    try:
        yield
    finally:
        db.session.rollback()
        db.session.execute(text(f"ALTER TABLE {table} RESET (autovacuum_enabled)"))
        db.session.commit()


def analyzed_empty(table: str, fill: Callable[[], None]) -> None:
    """`table` filled by `fill` after it was analyzed empty (with the pages a queue keeps),
    as autovacuum leaves a queue that is empty most of the time; committed."""
    fill()
    db.session.execute(text(f"DELETE FROM {table}"))
    db.session.commit()
    db.session.execute(text(f"ANALYZE {table}"))
    fill()
    db.session.commit()
