"""Is the engine keeping up? Its periodic passes (from `job_runs`), its lag (how long the
oldest due enrollment and the oldest due message have waited), what is stuck, and RQ's
queues, workers and failed jobs when Redis is used.

Engine-wide figures carry no workspace's data; the stuck counts are user data, so they are
counted for one workspace (the page's and the API's) or for all (/metrics only). Every
query is index-backed and bounded: lag is the first row of `(status, due)` index order."""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from redis.exceptions import RedisError
from sqlalchemy import Select, func, select

from app.config import current_settings
from app.extensions import db
from app.models import ContactSequence, JobRun, OutboundMessage, Sequence
from app.schedule import PERIODIC_JOBS
from app.services import rq_status
from app.services.stuck import failing_message, stuck_enrollment

OVERDUE_FACTOR = 3
"""A pass is overdue when it has not finished well for this many of its intervals..."""
OVERDUE_MIN_SECONDS = 15
"""...and at least this long: the processor and dispatcher run every second, and one busy
pass (a backlog, a slow SMTP server) takes longer than three of those without being late."""
ERROR_CHARS = 200
STUCK_COUNT_CAP = 10_000
"""Stuck enrollments and failing messages are counted up to this many (shown as 10,000+)."""


@dataclass(frozen=True)
class JobHealth:
    """One pass; the defaults describe a pass that never ran (overdue from the start)."""

    name: str
    interval_seconds: int
    last_started_at: datetime | None = None
    last_finished_at: datetime | None = None  # the last run that succeeded
    last_duration_ms: int | None = None
    last_report: str | None = None
    last_error: str | None = None  # the first line of the last failure's message
    last_failed_at: datetime | None = None
    runs: int = 0
    failures: int = 0
    seconds_total: float = 0.0
    totals: dict[str, int] = field(default_factory=dict)  # its runs' counts, added up
    age_seconds: float | None = None  # since the last success; None: never succeeded
    overdue: bool = True
    failing: bool = False  # its last run failed


@dataclass(frozen=True)
class Lag:
    oldest_due_enrollment_at: datetime | None
    oldest_due_message_at: datetime | None
    enrollments_seconds: float
    messages_seconds: float


@dataclass(frozen=True)
class Stuck:
    enrollments: int
    messages: int
    after_seconds: int
    count_cap: int  # a count equal to it means "at least this many"


@dataclass(frozen=True)
class EngineHealth:
    now: datetime
    jobs: list[JobHealth]
    lag: Lag
    stuck: Stuck
    rq: rq_status.RqState | None  # None: Redis is not used
    rq_error: str | None = None  # Redis is used but did not answer


def engine_health(now: datetime, workspace_id: uuid.UUID) -> EngineHealth:
    """Everything the health page and `GET /api/health` show to one workspace."""
    rq, rq_error = rq_overview()
    return EngineHealth(now, job_health(now), lag(now), stuck(now, workspace_id), rq, rq_error)


def job_health(now: datetime) -> list[JobHealth]:
    """Each scheduled pass in schedule order, from its `job_runs` row (one query)."""
    rows = {row.name: row for row in db.session.scalars(select(JobRun))}
    return [_job(job.name, job.interval_seconds, rows.get(job.name), now) for job in PERIODIC_JOBS]


def _job(name: str, interval: int, row: JobRun | None, now: datetime) -> JobHealth:
    if row is None:
        return JobHealth(name, interval)
    finished = row.last_finished_at
    age = max((now - finished).total_seconds(), 0.0) if finished else None  # a replayed tick
    return JobHealth(
        name,
        interval,
        last_started_at=row.last_started_at,
        last_finished_at=row.last_finished_at,
        last_duration_ms=row.last_duration_ms,
        last_report=row.last_report,
        last_error=first_line(row.last_error),
        last_failed_at=row.last_failed_at,
        runs=row.runs,
        failures=row.failures,
        seconds_total=row.seconds_total,
        totals=dict(row.totals or {}),
        age_seconds=age,
        overdue=age is None or age > max(OVERDUE_FACTOR * interval, OVERDUE_MIN_SECONDS),
        failing=row.last_failed_at is not None
        and (row.last_finished_at is None or row.last_failed_at > row.last_finished_at),
    )


def first_line(text: str | None) -> str | None:
    return text.strip().splitlines()[0][:ERROR_CHARS] if text and text.strip() else text


def lag(now: datetime) -> Lag:
    """The oldest due enrollment and message as the processor and the dispatcher claim
    them (active, in an active sequence, due by `now`): the first row in index order."""
    enrollment = db.session.scalar(
        select(ContactSequence.next_execution_at)
        .join(Sequence, Sequence.id == ContactSequence.sequence_id)
        .where(
            ContactSequence.status == "active",
            ContactSequence.next_execution_at <= now,
            Sequence.status == "active",
        )
        .order_by(ContactSequence.next_execution_at)
        .limit(1)
    )
    message = db.session.scalar(
        select(OutboundMessage.next_attempt_at)
        .join(Sequence, Sequence.id == OutboundMessage.sequence_id)
        .where(
            OutboundMessage.status == "queued",
            OutboundMessage.next_attempt_at <= now,
            Sequence.status == "active",
        )
        .order_by(OutboundMessage.next_attempt_at)
        .limit(1)
    )
    return Lag(enrollment, message, _age(enrollment, now), _age(message, now))


def _age(moment: datetime | None, now: datetime) -> float:
    return max((now - moment).total_seconds(), 0.0) if moment else 0.0


def stuck(now: datetime, workspace_id: uuid.UUID | None) -> Stuck:
    """Stuck enrollments and failing messages (app.services.stuck) of one workspace, or of
    all of them when `workspace_id` is None (/metrics, which only operators read)."""
    after = current_settings().stuck_after_seconds
    enrollments = select(ContactSequence.id).where(stuck_enrollment(now, after))
    messages = select(OutboundMessage.id).where(failing_message(now, after))
    if workspace_id is not None:
        enrollments = enrollments.where(ContactSequence.workspace_id == workspace_id)
        messages = messages.where(OutboundMessage.workspace_id == workspace_id)
    return Stuck(_count_to_cap(enrollments), _count_to_cap(messages), after, STUCK_COUNT_CAP)


def _count_to_cap(rows: Select[Any]) -> int:
    """How many rows, counting no further than the cap: when the engine has been down for
    a day, every enrollment is stuck, and a page reloaded every 10 s must stay cheap."""
    return (
        db.session.scalar(select(func.count()).select_from(rows.limit(STUCK_COUNT_CAP).subquery()))
        or 0
    )


def queue_names() -> set[str]:
    return {job.queue for job in PERIODIC_JOBS}


def rq_overview() -> tuple[rq_status.RqState | None, str | None]:
    """RQ's state when Redis is used; (None, why) when it does not answer."""
    url = current_settings().redis_url
    if not url:
        return None, None
    try:
        return rq_status.rq_state(rq_status.connect(url), queue_names()), None
    except RedisError as exc:
        return None, f"Redis did not answer: {type(exc).__name__}"


def as_json(health: EngineHealth) -> dict[str, Any]:
    """The JSON of `GET /api/health`: the page's figures, times in ISO 8601 UTC."""
    rq: dict[str, Any] | None = None
    if health.rq is not None or health.rq_error is not None:
        state = health.rq or rq_status.RqState([], [], [])
        rq = {
            "error": health.rq_error,
            "queues": [asdict(q) for q in state.queues],
            "workers": [asdict(w) for w in state.workers],
            "failed_jobs": [_dated(asdict(f)) for f in state.failed_jobs],
        }
    return {
        "now": health.now.isoformat(),
        "jobs": [_dated(asdict(job)) for job in health.jobs],
        "lag": _dated(asdict(health.lag)),
        "stuck": asdict(health.stuck),
        "rq": rq,
    }


def _dated(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in values.items()}


class RedisNotUsed(Exception):
    """Requeueing asks for RQ, which only exists when `REDIS_URL` is set."""


def _connection() -> Any:
    url = current_settings().redis_url
    if not url:
        raise RedisNotUsed("REDIS_URL is not set: there are no RQ jobs")
    return rq_status.connect(url)


def requeue_failed(job_id: str) -> bool:
    """Put one failed job back on its queue; False when it is not (or no longer) failed."""
    return rq_status.requeue(_connection(), queue_names(), job_id)


def requeue_all_failed() -> int:
    return rq_status.requeue_all(_connection(), queue_names())
