"""A message that can never be sent ends its enrollment as `failed`, with the reason.

A permanent SMTP answer (5xx), an address or header that cannot be sent, a template the
sandbox refuses, or the last retry given up: the run would fail the same way at each later
email, so it stops there, visibly (status `failed`, `exit_reason` naming the email and the
error). A sequence whose `settings.on_send_failure` is "skip" goes on without that email.
One statement (executed for the batch's failures) per dispatch batch.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, or_, update

from app.extensions import db
from app.models import ContactSequence

REASON_MAX = 500
ENDED_BY_FAILURE = ("active", "paused", "completed")
"""Runs a failed email ends: also a completed one, whose last email never went out."""


def failure_reason(step_name: str | None, step_key: str | None, error: str | None) -> str:
    label = f"'{step_name}'" if step_name else f"'{step_key}'"
    return f"email {label} could not be sent: {error or 'unknown error'}"[:REASON_MAX]


def end_failed_runs(failed: Iterable[tuple[Any, str | None]], now: datetime) -> int:
    """End the runs of these (message row, error) pairs unless their sequence skips
    failed emails; returns how many runs were ended."""
    updates: dict[Any, dict[str, Any]] = {}
    for row, error in failed:
        if row.enrollment_id is None or (row.settings or {}).get("on_send_failure") == "skip":
            continue
        reason = failure_reason(row.step_name, row.step_key, error)
        updates[row.enrollment_id] = {"b_id": row.enrollment_id, "b_reason": reason}
    if not updates:
        return 0
    table = ContactSequence.__table__
    statement = (
        update(table)
        # no IN (...): an expanding parameter cannot be used with executemany
        .where(
            table.c.id == bindparam("b_id"), or_(*(table.c.status == s for s in ENDED_BY_FAILURE))
        )
        .values(
            status="failed",
            exit_reason=bindparam("b_reason"),
            finished_at=now,
            next_execution_at=None,
            updated_at=now,
        )
    )
    db.session.execute(statement, list(updates.values()))
    return len(updates)
