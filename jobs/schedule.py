"""The periodic schedule as data: `rq cron` and the embedded scheduler both read it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from jobs.tasks import (
    deliver_calls,
    dispatch_mail,
    monitor_goals,
    process_contact_imports,
    process_sequences,
    purge_event_receipts,
    refresh_segments,
)


@dataclass(frozen=True)
class PeriodicJob:
    func: Callable[..., str]
    interval_seconds: int
    queue: str = "default"
    timeout_seconds: int = 600

    @property
    def name(self) -> str:
        return self.func.__name__


PERIODIC_JOBS: tuple[PeriodicJob, ...] = (
    PeriodicJob(process_sequences, interval_seconds=5),
    PeriodicJob(dispatch_mail, interval_seconds=5),
    PeriodicJob(deliver_calls, interval_seconds=5),
    PeriodicJob(purge_event_receipts, interval_seconds=3600),
    PeriodicJob(process_contact_imports, interval_seconds=2),
    PeriodicJob(refresh_segments, interval_seconds=300),
    PeriodicJob(monitor_goals, interval_seconds=30),
)


def should_run(last_started: float | None, interval_seconds: float, now: float) -> bool:
    """Due when it never ran, or its interval has passed since it last started."""
    return last_started is None or now - last_started >= interval_seconds
