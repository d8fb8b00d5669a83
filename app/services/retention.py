"""Retention: after RETENTION_DAYS, trim the bulky history of finished work, in bounded chunks.

What goes, once older than the cutoff (now - RETENTION_DAYS):

- a message's rendered body (`html`, `text`, `send_window`) once it is in a final status
  (sent, captured, failed, skipped, cancelled) and not part of a run that is still going;
  its SMTP attempts go with it;
- of that message's events, the ones no figure counts: machine opens and scanner clicks,
  and every repeat of an engagement after the first (an open counts once per message);
- events not about a message (API events, field changes, segment joins, form posts).

An event stays, whatever its age, while its contact has an active or paused enrollment
(waits, branches and goals read back to the run's start, or a lookback), when a condition
reads its type further back than the cutoff (a rule segment's without a lookback reads
forever; a sequence's, with a longer lookback, when a contact enrolls again), and when it
is `enrollment_refused` (the sequence page counts those forever).

What stays, whatever its age: every step log, every message row (id, status, step,
variant, times, subject, tracked link targets), the first engagement of each kind per
message, conversions and enrollments. Those are what analytics, A/B tests, frequency and
sender caps, the once-only keys, reply threading and tracking redirects read, so every
figure reads the same before and after a pass, and a tracked link in an old email still
leads where it did. The enrollment story and the outbox show a trimmed message without
its body and attempts.

Each chunk is one transaction of a few statements over at most CHUNK_ROWS rows found
through a partial index that trimmed rows leave, and a pass does at most MAX_CHUNKS chunks
per kind, so no pass holds locks for long; the next pass carries on.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, delete, exists, select, update

from app.core import conditions
from app.extensions import db
from app.models import (
    ContactEvent,
    ContactSequence,
    MessageAttempt,
    OutboundMessage,
    Segment,
    Sequence,
    SequenceConnection,
    SequenceStep,
    SequenceVersion,
)
from app.services.analytics import ENGAGEMENT
from app.services.triggers import ENROLLMENT_REFUSED

log = logging.getLogger(__name__)

MIN_DAYS = 30
"""The shortest retention accepted: a month of sends stays readable in the outbox, well past
the frequency cap's week and any A/B attribution window."""

CHUNK_ROWS = 5000
MAX_CHUNKS = 20
"""Per kind and pass: at most 100,000 messages and 100,000 events, hourly."""

FINAL_STATUSES = ("sent", "captured", "failed", "skipped", "cancelled")
"""Message statuses nothing moves on from by itself (`unknown` waits for an operator)."""

RUNNING = ("active", "paused")


@dataclass
class Retained:
    """What one pass removed; `more` when it stopped at its chunk limit with work left."""

    messages_trimmed: int = 0
    attempts_deleted: int = 0
    message_events_deleted: int = 0
    events_deleted: int = 0
    chunks: int = 0
    more: bool = False

    def text(self, days: int) -> str:
        left = "; more left for the next pass" if self.more else ""
        return (
            f"older than {days} days: trimmed {self.messages_trimmed} message body(ies), "
            f"deleted {self.attempts_deleted} attempt(s), {self.message_events_deleted} "
            f"repeated or uncounted message event(s), {self.events_deleted} other event(s) "
            f"in {self.chunks} chunk(s){left}"
        )

    def counts(self) -> dict[str, int]:
        """The running totals `job_runs` keeps (not whether work was left)."""
        return {name: value for name, value in asdict(self).items() if name != "more"}


def retain(
    now: datetime, days: int, chunk_rows: int = CHUNK_ROWS, max_chunks: int = MAX_CHUNKS
) -> Retained:
    """One pass for `now`, keeping `days` days; commits each chunk. ValueError when `days`
    is below MIN_DAYS (callers treat 0 as off and do not call)."""
    if days < MIN_DAYS:
        raise ValueError(f"RETENTION_DAYS must be 0 (off) or at least {MIN_DAYS}, not {days}")
    cutoff = now - timedelta(days=days)
    done = Retained()
    protected = _protected_kinds(days)
    for _ in range(max_chunks):
        if not _trim_messages(cutoff, protected, chunk_rows, done):
            break
    else:
        done.more = True
    for _ in range(max_chunks):
        if not _delete_events(cutoff, protected, chunk_rows, done):
            break
    else:
        done.more = True
    return done


def _kept_for_runs(events: Any = ContactEvent) -> Any:
    """The events' contact has no active or paused enrollment that may read them."""
    return ~exists().where(
        ContactSequence.contact_id == events.contact_id, ContactSequence.status.in_(RUNNING)
    )


def _trim_messages(
    cutoff: datetime, protected: frozenset[str], chunk_rows: int, done: Retained
) -> bool:
    """One chunk of old final messages: attempts and countless events deleted, bodies
    trimmed; False when there was nothing left."""
    old = (
        OutboundMessage.html.is_not(None),
        OutboundMessage.queued_at < cutoff,
        OutboundMessage.updated_at < cutoff,
        OutboundMessage.status.in_(FINAL_STATUSES),
        ~exists().where(  # the run that sent it is over (a later run may be going)
            ContactSequence.id == OutboundMessage.enrollment_id,
            ContactSequence.status.in_(RUNNING),
            ContactSequence.enrolled_at <= OutboundMessage.queued_at,
        ),
    )
    ids = _claim(
        select(OutboundMessage.id).where(*old).order_by(OutboundMessage.queued_at), chunk_rows
    )
    if not ids:
        db.session.rollback()
        return False
    done.attempts_deleted += _count(
        db.session.execute(delete(MessageAttempt).where(MessageAttempt.message_id.in_(ids)))
    )
    earlier = ContactEvent.__table__.alias("earlier")
    repeat = exists().where(
        earlier.c.message_id == ContactEvent.message_id,
        earlier.c.type == ContactEvent.type,
        earlier.c.id < ContactEvent.id,
    )
    done.message_events_deleted += _count(
        db.session.execute(
            delete(ContactEvent)
            .where(
                ContactEvent.message_id.in_(ids),
                ContactEvent.occurred_at < cutoff,
                ~ContactEvent.type.in_(protected),
                ~ContactEvent.type.in_(ENGAGEMENT) | repeat,
                _kept_for_runs(),
            )
            .execution_options(synchronize_session=False)
        )
    )
    done.messages_trimmed += _count(
        db.session.execute(
            update(OutboundMessage)
            .where(OutboundMessage.id.in_(ids), *old)  # still so under its row lock
            .values(html=None, text=None, send_window=None)
            .execution_options(synchronize_session=False)
        )
    )
    db.session.commit()
    done.chunks += 1
    return True


def _delete_events(
    cutoff: datetime, protected: frozenset[str], chunk_rows: int, done: Retained
) -> bool:
    """One chunk of old events not about a message that nothing reads any more."""
    old = (
        ContactEvent.message_id.is_(None),
        ContactEvent.occurred_at < cutoff,
        ContactEvent.recorded_at < cutoff,
        ~ContactEvent.type.in_(protected),
        _kept_for_runs(),
    )
    ids = _claim(select(ContactEvent.id).where(*old).order_by(ContactEvent.occurred_at), chunk_rows)
    if not ids:
        db.session.rollback()
        return False
    done.events_deleted += _count(
        db.session.execute(
            delete(ContactEvent)
            .where(ContactEvent.id.in_(ids), *old)
            .execution_options(synchronize_session=False)
        )
    )
    db.session.commit()
    done.chunks += 1
    return True


def _claim(stmt: Select[Any], chunk_rows: int) -> list[Any]:
    """Up to `chunk_rows` ids, locked for this chunk; rows another pass holds are skipped."""
    return list(db.session.scalars(stmt.limit(chunk_rows).with_for_update(skip_locked=True)))


def _protected_kinds(days: int) -> frozenset[str]:
    """Event types a condition reads further back than `days`: a rule segment's without a
    lookback (it reads every event of its type), any with a longer lookback; and the ones
    counted forever. Every sequence's steps, connections, goals, exits and versions are
    read: a contact may enroll again in any of them."""
    kinds = {ENROLLMENT_REFUSED}
    keep = timedelta(days=days)
    documents: list[Any] = [
        *db.session.scalars(select(Segment.rule).where(Segment.kind == "rule")),
    ]
    rule_documents = len(documents)
    for stmt in (
        select(SequenceStep.config),
        select(SequenceConnection.condition_expression),
        select(Sequence.goals_config),
        select(Sequence.exit_config),
        select(SequenceVersion.definition),
    ):
        documents.extend(db.session.scalars(stmt))
    for index, document in enumerate(documents):
        for condition in _event_conditions(document):
            needs = conditions.needs(condition)
            forever = needs.since_enrollment and index < rule_documents
            if forever or (needs.lookback is not None and needs.lookback >= keep):
                kinds |= needs.event_kinds
    return frozenset(kinds)


def _event_conditions(document: Any) -> list[dict[str, Any]]:
    """Every event condition anywhere in a JSON document (a rule, a step's config, ...)."""
    found: list[dict[str, Any]] = []
    if isinstance(document, dict):
        if document.get("type") in conditions.EVENT_CONDITIONS and "event" in document:
            found.append(document)
        for value in document.values():
            found.extend(_event_conditions(value))
    elif isinstance(document, list):
        for value in document:
            found.extend(_event_conditions(value))
    return found


def _count(result: Any) -> int:
    return int(result.rowcount or 0)
