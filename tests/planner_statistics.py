"""PostgreSQL statistics a test sets up and keeps, and how a plan reads a table, for checks
that a query stays bounded whatever the planner believes about a table."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event, text

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


def plan_nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """A plan (EXPLAIN's JSON) and every node under it."""
    yield plan
    for child in plan.get("Plans", ()):
        yield from plan_nodes(child)


def reads_of(plan: dict[str, Any], table: str) -> list[tuple[str, str | None]]:
    """How the plan reads `table`: (node type, index) of each of its scans; a bitmap heap
    scan's bitmap index scans are listed too. An index read whole (no condition on it)
    counts as a scan of the table."""
    return [
        (node["Node Type"], node.get("Index Name") if "Index Cond" in node else None)
        for node in plan_nodes(plan)
        if node["Node Type"] != "ModifyTable"
        and (node.get("Relation Name") == table or table in node.get("Index Name", ""))
    ]


@contextmanager
def plans_made(table: str) -> Iterator[list[tuple[str, dict[str, Any]]]]:
    """(statement, plan) of each statement on `table` the block sends (an executemany
    aside): the plan PostgreSQL makes for that statement in its transaction and with its
    parameters (EXPLAIN on the same cursor, just before it runs)."""
    explained: list[tuple[str, dict[str, Any]]] = []

    def explain(conn, cursor, statement, parameters, context, executemany) -> None:
        if not executemany and table in statement:
            cursor.execute("EXPLAIN (FORMAT JSON) " + statement, parameters)
            explained.append((statement, cursor.fetchone()[0][0]["Plan"]))

    event.listen(db.engine, "before_cursor_execute", explain)
    try:
        yield explained
    finally:
        event.remove(db.engine, "before_cursor_execute", explain)
