"""The embedded scheduler: runs the periodic schedule in a thread when there is no Redis."""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime

from flask import Flask

from app.schedule import PERIODIC_JOBS, PeriodicJob, should_run
from app.services.wakeups import LOCAL_WAKER

log = logging.getLogger(__name__)

IDLE_SECONDS = 0.5
"""The longest the thread sleeps between looks at the schedule when nothing wakes it."""


class EmbeddedScheduler(threading.Thread):
    """One daemon thread; each job runs inside the app context, errors are logged, never fatal.

    While it runs it is the app's waker (app.services.wakeups): `wake(name)` runs that job
    on the next loop, at once, instead of at its interval, so an event or a processor pass
    that queued email does not wait for the next tick."""

    def __init__(self, app: Flask, jobs: tuple[PeriodicJob, ...] = PERIODIC_JOBS) -> None:
        super().__init__(name="embedded-scheduler", daemon=True)
        self.app, self.jobs = app, jobs
        self._stop_event = threading.Event()
        self._poke = threading.Event()  # set by a wake-up or stop: loop again now
        self._woken: set[str] = set()
        self._lock = threading.Lock()
        self._last_started: dict[str, float] = {}

    def stop(self) -> None:
        self._stop_event.set()
        self._poke.set()

    def wake(self, name: str) -> None:
        """Run the job `name` on the next loop; callable from any thread, the loop's own too."""
        with self._lock:
            self._woken.add(name)
        self._poke.set()

    def run(self) -> None:
        self.app.extensions[LOCAL_WAKER] = self.wake
        try:
            while not self._stop_event.is_set():
                self._poke.clear()
                for job in self.jobs:
                    now = time.monotonic()
                    if self._was_woken(job.name) or should_run(
                        self._last_started.get(job.name), job.interval_seconds, now
                    ):
                        self._last_started[job.name] = now
                        self._run(job)
                self._poke.wait(IDLE_SECONDS)
        finally:
            if self.app.extensions.get(LOCAL_WAKER) == self.wake:
                del self.app.extensions[LOCAL_WAKER]

    def _was_woken(self, name: str) -> bool:
        with self._lock:
            if name in self._woken:
                self._woken.discard(name)
                return True
            return False

    def _run(self, job: PeriodicJob) -> None:
        with self.app.app_context():
            try:
                report = job(datetime.now(UTC))
                log.debug("%s: %s", job.name, report.text)
            except Exception:
                log.exception("periodic job %s failed; it runs again next interval", job.name)
