"""The call delivery job: claim due outside calls (webhooks, ...), make one attempt each,
retry with backoff, and record every answer on the call and in its step's log.

A batch is claimed in one guarded UPDATE (queued -> claimed, attempts + 1, with a lease);
on PostgreSQL the candidates are read `FOR UPDATE SKIP LOCKED`, so jobs share the work.
Right before its attempt a call's lease is renewed (and the claim checked: another job may
have taken it over), and the answer is committed right after. A job that crashes between
the two leaves the call `claimed`; once the lease runs out it is claimed again. So a crash
repeats at most the one call in flight (receivers dedupe on `X-PenguinMails-Delivery`),
and no call is ever dropped.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, or_, select, update

from app.config import current_settings
from app.extensions import db
from app.models import Contact, ContactSequence, OutboundCall, Sequence, SequenceStep, StepLog
from app.services.dispatcher import Clock, running_clock
from app.services.outbound_calls import HANDLERS
from app.services.outbound_calls.base import Attempt, CallSettings, PendingCall, RequestError
from app.services.render_limits import render_limits

log = logging.getLogger(__name__)

DEFAULT_BATCH_SIZE = 50
RETRY_BACKOFF_SECONDS = (60, 300, 1800, 7200)
"""Waits after the 1st, 2nd, 3rd and 4th failed attempts; the 5th failure is final."""
MAX_ATTEMPTS = len(RETRY_BACKOFF_SECONDS) + 1

_calls = OutboundCall.__table__


@dataclass
class CallStats:
    delivered: int = 0
    retrying: int = 0
    failed: int = 0

    def count(self, status: str) -> None:
        name = "retrying" if status == "queued" else status
        setattr(self, name, getattr(self, name) + 1)


@dataclass(frozen=True)
class _Outcome:
    status: str  # delivered | queued (retry) | failed
    attempt: Attempt
    retry_at: datetime | None = None


def deliver_due(
    now: datetime,
    batch_size: int = DEFAULT_BATCH_SIZE,
    lease_seconds: int = 60,
    clock: Clock | None = None,
) -> CallStats:
    """Make one attempt for every call due at `now` (and every call whose job stopped)."""
    clock = clock or running_clock(now)
    lease = timedelta(seconds=lease_seconds)
    settings = call_settings()
    stats = CallStats()
    while claimed := _claim(clock(), batch_size, lease):
        for call in _load(claimed):
            status = _attempt(call, settings, clock, lease)
            if status is not None:
                stats.count(status)
    return stats


def call_settings() -> CallSettings:
    """The operator's settings for outside calls (WEBHOOK_ALLOW_PRIVATE, render budget)."""
    limits = render_limits()
    return CallSettings(
        allow_private=current_settings().webhook_allow_private,
        render_timeout_seconds=limits["timeout_seconds"],
        render_max_bytes=limits["max_bytes"],
    )


def _claim(now: datetime, batch_size: int, lease: timedelta) -> list[tuple[uuid.UUID, int]]:
    """Claim up to `batch_size` due calls; returns (id, attempt number) of each.

    Picked (and locked) first, then claimed by key: as one UPDATE whose `IN (subquery)`
    picks them, PostgreSQL may rescan the locking subquery for every waiting call (planned
    from statistics of when none was waiting), each rescan locking more: a job claimed
    more than its batch."""
    due = or_(
        and_(_calls.c.status == "queued", _calls.c.next_attempt_at <= now),
        and_(_calls.c.status == "claimed", _calls.c.lease_expires_at < now),
    )
    candidates = db.session.scalars(
        select(_calls.c.id)
        .where(
            due,
            # a paused sequence holds its calls until it resumes, like its mail
            _calls.c.sequence_id.in_(select(Sequence.id).where(Sequence.status == "active")),
        )
        .order_by(_calls.c.next_attempt_at)
        .limit(batch_size)
        .with_for_update(skip_locked=True)
    ).all()
    if not candidates:
        db.session.commit()
        return []
    claimed = db.session.execute(
        update(_calls)
        # the guard as `IS TRUE`: not a condition the due index could serve, so the picked
        # calls are found by key; as a plain condition, with the statistics of an empty
        # queue, PostgreSQL read every waiting call's index entry to update the batch's
        .where(_calls.c.id.in_(candidates), due.is_(True))
        .values(status="claimed", attempts=_calls.c.attempts + 1, lease_expires_at=now + lease)
        .returning(_calls.c.id, _calls.c.attempts)
    ).all()
    db.session.commit()
    return [(call_id, attempt) for call_id, attempt in claimed]


def _load(claimed: list[tuple[uuid.UUID, int]]) -> list[PendingCall]:
    attempts = dict(claimed)
    stmt = (
        select(
            OutboundCall.id,
            OutboundCall.kind,
            OutboundCall.queued_at,
            OutboundCall.request,
            OutboundCall.workspace_id,
            OutboundCall.enrollment_id,
            OutboundCall.sequence_id,
            SequenceStep.config,
            SequenceStep.key.label("step_key"),
            Sequence.name.label("sequence_name"),
            ContactSequence.context_data,
            Contact.email,
            Contact.first_name,
            Contact.last_name,
            Contact.timezone,
            Contact.fields,
            Contact.tags,
        )
        .outerjoin(SequenceStep, SequenceStep.id == OutboundCall.step_id)
        .join(Sequence, Sequence.id == OutboundCall.sequence_id)
        .join(ContactSequence, ContactSequence.id == OutboundCall.enrollment_id)
        .join(Contact, Contact.id == OutboundCall.contact_id)
        .where(OutboundCall.id.in_(attempts))
        .order_by(OutboundCall.next_attempt_at)
    )
    rows = db.session.execute(stmt).all()
    db.session.commit()
    return [
        PendingCall(
            id=row.id,
            kind=row.kind,
            attempt=attempts[row.id],
            queued_at=row.queued_at,
            request=row.request,
            config=row.config if row.step_key is not None else {},
            workspace_id=row.workspace_id,
            enrollment_id=row.enrollment_id,
            enrollment_context=row.context_data or {},
            sequence_id=row.sequence_id,
            sequence_name=row.sequence_name,
            step_key=row.step_key or "",
            contact={
                "email": row.email,
                "first_name": row.first_name,
                "last_name": row.last_name,
                "timezone": row.timezone,
                "fields": row.fields or {},
                "tags": list(row.tags or []),
            },
        )
        for row in rows
    ]


def _attempt(
    call: PendingCall, settings: CallSettings, clock: Clock, lease: timedelta
) -> str | None:
    """One attempt for one call, its answer committed; None when the claim was lost."""
    if not _renew(call, clock() + lease):
        return None
    handler = HANDLERS.get(call.kind)
    request = call.request
    if handler is None:
        outcome = _fail(f"no handler for calls of kind {call.kind!r}")
    elif not call.step_key:
        outcome = _fail("its step was removed from the sequence")
    else:
        try:
            request = request or handler.build(call, settings)
            outcome = _judge(call, handler.send(request, call, settings), clock())
        except RequestError as exc:
            outcome = _fail(f"the request could not be built: {exc}")
        except Exception as exc:  # a handler bug must not stop the other calls
            log.exception("call %s: its %s handler failed", call.id, call.kind)
            outcome = _judge(call, Attempt(error=f"internal error: {exc}", retry=True), clock())
    _record(call, outcome, request, clock())
    return outcome.status


def _renew(call: PendingCall, until: datetime) -> bool:
    """Extend this job's lease right before the attempt; False if another job holds it."""
    held = db.session.execute(
        update(_calls)
        .where(_calls.c.id == call.id, _calls.c.status == "claimed")
        .where(_calls.c.attempts == call.attempt)
        .values(lease_expires_at=until)
    ).rowcount
    db.session.commit()
    return bool(held)


def _fail(error: str) -> _Outcome:
    return _Outcome("failed", Attempt(error=error))


def _judge(call: PendingCall, attempt: Attempt, now: datetime) -> _Outcome:
    """Delivered, retried after the backoff for this attempt, or failed for good."""
    if attempt.error is None:
        return _Outcome("delivered", attempt)
    if not attempt.retry:
        return _Outcome("failed", attempt)
    if call.attempt >= MAX_ATTEMPTS:
        given_up = f"gave up after {call.attempt} attempts: {attempt.error}"
        return _Outcome("failed", Attempt(attempt.status_code, given_up, False, attempt.excerpt))
    backoff = RETRY_BACKOFF_SECONDS[call.attempt - 1]
    return _Outcome("queued", attempt, now + timedelta(seconds=backoff))


def _record(call: PendingCall, outcome: _Outcome, request: Any, now: datetime) -> None:
    """The answer on the call (only if this job still holds it) and in its step's log."""
    attempt = outcome.attempt
    row = db.session.execute(
        select(_calls.c.history, _calls.c.enrollment_id, _calls.c.step_id, _calls.c.rotation).where(
            _calls.c.id == call.id
        )
    ).one()
    history = [
        *(row.history or []),
        {"at": now.isoformat(), "status_code": attempt.status_code, "error": attempt.error},
    ]
    written = db.session.execute(
        update(_calls)
        .where(_calls.c.id == call.id, _calls.c.status == "claimed")
        .where(_calls.c.attempts == call.attempt)
        .values(
            status=outcome.status,
            request=request,
            lease_expires_at=None,
            next_attempt_at=outcome.retry_at or now,
            finished_at=now if outcome.status in ("delivered", "failed") else None,
            status_code=attempt.status_code,
            last_error=attempt.error,
            response_excerpt=attempt.excerpt[:500] if attempt.excerpt else None,
            history=history,
            updated_at=now,
        )
    ).rowcount
    if written:
        detail = {
            "call": {
                "id": str(call.id),
                "kind": call.kind,
                "status": outcome.status,
                "attempts": call.attempt,
                "status_code": attempt.status_code,
                "error": attempt.error,
                "history": history,
            }
        }
        db.session.execute(
            update(StepLog)
            .where(
                StepLog.enrollment_id == row.enrollment_id,
                StepLog.step_id == row.step_id,
                StepLog.rotation == row.rotation,
            )
            .values(detail=detail)
        )
    db.session.commit()
