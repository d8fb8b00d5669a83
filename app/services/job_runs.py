"""Every run of a periodic pass, recorded in one place whichever process ran it (the
embedded scheduler, an rq worker, `flask sequences tick`), so the health page and /metrics
see the engine as a whole.

One statement per run: an INSERT ... ON CONFLICT DO UPDATE whose counters add to what the
row holds (`runs = job_runs.runs + 1`), so two workers finishing at once lose nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import BigInteger, ColumnElement, cast, func, literal
from sqlalchemy.dialects import postgresql, sqlite

from app.extensions import db
from app.models import JobRun

ERROR_CHARS = 2000
"""How much of a failure's message a row keeps (the log has the traceback)."""


@dataclass(frozen=True)
class PassReport:
    """What one pass did: the line the embedded scheduler logs and an RQ job keeps as its
    result, and the counts `job_runs` adds to its running totals (for /metrics)."""

    text: str
    counts: dict[str, int] = field(default_factory=dict)


def record(name: str, work: Callable[[datetime], PassReport], now: datetime) -> PassReport:
    """Run one pass for `now` and record it; a failing pass records its error and re-raises.

    The pass commits its own work; its duration is measured on the monotonic clock and the
    finish is `now` plus that duration, so a replayed moment stays consistent."""
    started = time.perf_counter()
    try:
        report = work(now)
    except Exception as exc:
        db.session.rollback()
        _upsert(name, now, time.perf_counter() - started, error=error_text(exc))
        raise
    _upsert(name, now, time.perf_counter() - started, report=report)
    return report


def error_text(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:ERROR_CHARS]


def _upsert(
    name: str,
    now: datetime,
    seconds: float,
    report: PassReport | None = None,
    error: str | None = None,
) -> None:
    table = JobRun.__table__
    ended = now + timedelta(seconds=seconds)
    counts = report.counts if report else {}
    values: dict[str, Any] = {
        "name": name,
        "last_started_at": now,
        "last_duration_ms": round(seconds * 1000),
        "runs": 1,
        "failures": 0 if report else 1,
        "seconds_total": seconds,
        "totals": counts,
    }
    if report:
        values |= {"last_finished_at": ended, "last_report": report.text}
    else:
        values |= {"last_failed_at": ended, "last_error": error}
    dialect = db.session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert(table).values(values)
    kept = ("runs", "failures", "seconds_total", "totals", "name")
    changes: dict[str, Any] = {key: stmt.excluded[key] for key in values if key not in kept}
    changes |= {
        "runs": table.c.runs + 1,
        "failures": table.c.failures + stmt.excluded.failures,
        "seconds_total": table.c.seconds_total + stmt.excluded.seconds_total,
        "totals": _added(table.c.totals, counts, dialect),
    }
    db.session.execute(stmt.on_conflict_do_update(index_elements=["name"], set_=changes))
    db.session.commit()


def _added(totals: Any, counts: dict[str, int], dialect: str) -> ColumnElement[Any]:
    """`totals` with each of `counts` added to its key, computed by the database from the
    row as it is when the update runs (never read first and written back)."""
    if not counts:
        return totals
    pairs: list[Any] = []
    for key, value in counts.items():
        held = func.coalesce(cast(totals[key].as_string(), BigInteger), 0)
        pairs += [literal(key), held + value]
    if dialect == "postgresql":
        return totals.op("||")(func.jsonb_build_object(*pairs))
    return func.json_patch(totals, func.json_object(*pairs))
