"""What counts as stuck, defined once: the health page flags it, the enrollments list and
the outbox filter by it, /metrics counts it."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_

from app.models import ContactSequence, OutboundMessage

FAILING_ATTEMPTS = 3
"""A message still not out after this many tries is failing repeatedly."""


def stuck_enrollment(now: datetime, stuck_after_seconds: int) -> ColumnElement[bool]:
    """An active enrollment due for longer than the threshold: the processor is not
    keeping up with it (stopped, failing, or behind)."""
    return and_(
        ContactSequence.status == "active",
        ContactSequence.next_execution_at < now - timedelta(seconds=stuck_after_seconds),
    )


def failing_message(now: datetime, stuck_after_seconds: int) -> ColumnElement[bool]:
    """A message still waiting to go out after repeated tries, or due for longer than the
    threshold without being sent."""
    waiting = OutboundMessage.status.in_(("queued", "claimed"))
    return and_(
        waiting,
        (OutboundMessage.attempts >= FAILING_ATTEMPTS)
        | (OutboundMessage.next_attempt_at < now - timedelta(seconds=stuck_after_seconds)),
    )
