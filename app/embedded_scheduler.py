"""The embedded scheduler: runs the periodic schedule in a thread when there is no Redis."""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime

from flask import Flask

from app.schedule import PERIODIC_JOBS, PeriodicJob, should_run

log = logging.getLogger(__name__)


class EmbeddedScheduler(threading.Thread):
    """One daemon thread; each job runs inside the app context, errors are logged, never fatal."""

    def __init__(self, app: Flask, jobs: tuple[PeriodicJob, ...] = PERIODIC_JOBS) -> None:
        super().__init__(name="embedded-scheduler", daemon=True)
        self.app, self.jobs = app, jobs
        self._stop_event = threading.Event()
        self._last_started: dict[str, float] = {}

    def stop(self) -> None:
        self._stop_event.set()

    def run(self) -> None:
        while not self._stop_event.is_set():
            for job in self.jobs:
                now = time.monotonic()
                if should_run(self._last_started.get(job.name), job.interval_seconds, now):
                    self._last_started[job.name] = now
                    self._run(job)
            self._stop_event.wait(0.5)

    def _run(self, job: PeriodicJob) -> None:
        with self.app.app_context():
            try:
                report = job(datetime.now(UTC))
                log.debug("%s: %s", job.name, report.text)
            except Exception:
                log.exception("periodic job %s failed; it runs again next interval", job.name)
