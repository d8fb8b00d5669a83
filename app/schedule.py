"""The periodic schedule as data: which pass runs how often, on which queue.

`rq cron jobs.cron` and the embedded scheduler thread both read it. A job names its RQ entry
point by dotted path (`jobs.tasks.<name>`), so the app never imports `jobs`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from app.services import job_runs, scheduling
from app.services.job_runs import PassReport

RQ_TASKS_MODULE = "jobs.tasks"


@dataclass(frozen=True)
class PeriodicJob:
    run: Callable[[datetime], PassReport]  # the pass for one moment
    interval_seconds: int
    queue: str = "default"
    timeout_seconds: int = 600

    @property
    def name(self) -> str:
        return self.run.__name__

    @property
    def task(self) -> str:
        """The RQ entry point that runs this pass in a worker, as RQ enqueues it."""
        return f"{RQ_TASKS_MODULE}.{self.name}"

    def __call__(self, now: datetime) -> PassReport:
        """Run the pass for `now`, recorded in `job_runs` (how every process runs it)."""
        return job_runs.record(self.name, self.run, now)


PERIODIC_JOBS: tuple[PeriodicJob, ...] = (
    PeriodicJob(scheduling.process_sequences, interval_seconds=5),
    PeriodicJob(scheduling.dispatch_mail, interval_seconds=5),
    PeriodicJob(scheduling.deliver_calls, interval_seconds=5),
    PeriodicJob(scheduling.purge_event_receipts, interval_seconds=3600),
    PeriodicJob(scheduling.process_contact_imports, interval_seconds=2),
    PeriodicJob(scheduling.refresh_segments, interval_seconds=300),
    PeriodicJob(scheduling.monitor_goals, interval_seconds=30),
    PeriodicJob(scheduling.evaluate_ab_tests, interval_seconds=300),
    PeriodicJob(scheduling.poll_inboxes, interval_seconds=60),
    PeriodicJob(scheduling.retain_history, interval_seconds=3600),
)


def should_run(last_started: float | None, interval_seconds: float, now: float) -> bool:
    """Due when it never ran, or its interval has passed since it last started."""
    return last_started is None or now - last_started >= interval_seconds


JOBS_BY_NAME: dict[str, PeriodicJob] = {job.name: job for job in PERIODIC_JOBS}
