"""Every run of a periodic pass is recorded in `job_runs`, whichever process ran it: the
embedded scheduler, an rq worker, `flask sequences tick`; failures too, and concurrent
runs lose no counts."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from rq import Queue
from sqlalchemy import select

from app.embedded_scheduler import EmbeddedScheduler
from app.extensions import db
from app.models import JobRun
from app.schedule import PERIODIC_JOBS, PeriodicJob
from app.services import job_runs
from app.services.job_runs import PassReport
from tests.engine.test_onboarding_e2e import start_onboarding
from tests.helpers import run_burst_worker, tick

T0 = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)


def runs_by_name() -> dict[str, JobRun]:
    db.session.expire_all()
    return {row.name: row for row in db.session.scalars(select(JobRun))}


def test_a_pass_run_is_recorded_with_its_times_report_and_running_totals(app):
    def steps(now: datetime) -> PassReport:
        return PassReport("advanced 2 enrollment(s), 5 step(s)", {"steps": 5, "emails": 2})

    job_runs.record("process_sequences", steps, T0)
    job_runs.record("process_sequences", steps, T0 + timedelta(seconds=5))
    row = runs_by_name()["process_sequences"]
    assert (row.runs, row.failures) == (2, 0)
    assert row.last_started_at == T0 + timedelta(seconds=5)
    assert row.last_started_at <= row.last_finished_at < row.last_started_at + timedelta(seconds=1)
    assert row.last_report == "advanced 2 enrollment(s), 5 step(s)"
    assert row.totals == {"steps": 10, "emails": 4}
    assert row.last_duration_ms is not None and row.seconds_total >= 0


def test_a_failing_pass_records_its_error_and_still_raises(app):
    def broken(now: datetime) -> PassReport:
        raise RuntimeError("the database said no")

    job_runs.record("dispatch_mail", lambda now: PassReport("sent 1", {"sent": 1}), T0)
    with pytest.raises(RuntimeError):
        job_runs.record("dispatch_mail", broken, T0 + timedelta(minutes=1))
    row = runs_by_name()["dispatch_mail"]
    assert (row.runs, row.failures) == (2, 1)
    assert row.last_error == "RuntimeError: the database said no"
    assert row.last_failed_at >= T0 + timedelta(minutes=1)
    assert row.last_finished_at < T0 + timedelta(minutes=1)  # the last success stays
    assert row.totals == {"sent": 1}


def test_the_embedded_scheduler_records_each_run_and_each_failure(app):
    calls: list[datetime] = []

    def monitor_goals(now: datetime) -> PassReport:
        calls.append(now)
        if len(calls) == 1:
            raise RuntimeError("the first pass fails")
        return PassReport("recorded 0 conversion(s)", {"conversions": 0})

    scheduler = EmbeddedScheduler(app, (PeriodicJob(monitor_goals, interval_seconds=0),))
    scheduler.start()
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            row = runs_by_name().get("monitor_goals")
            if row is not None and row.runs >= 2:
                break
            time.sleep(0.05)
    finally:
        scheduler.stop()
        scheduler.join(5)
    row = runs_by_name()["monitor_goals"]
    assert row.failures == 1 and row.runs >= 2
    assert row.last_error == "RuntimeError: the first pass fails"
    assert row.last_report == "recorded 0 conversion(s)"


def test_flask_tick_records_the_passes_it_runs(app, api):
    _, t0 = start_onboarding(api)
    tick(app, t0)
    rows = runs_by_name()
    assert set(rows) == {"evaluate_ab_tests", "process_sequences", "dispatch_mail", "deliver_calls"}
    assert rows["process_sequences"].totals["enrollments"] == 3
    assert rows["dispatch_mail"].totals["captured"] == 3
    assert rows["process_sequences"].last_started_at == t0


@pytest.mark.redis
def test_the_rq_entry_points_record_every_pass_and_keep_its_text_as_the_result(
    app, api, redis_conn
):
    _, t0 = start_onboarding(api)
    queue = Queue("default", connection=redis_conn)
    enqueued = [queue.enqueue(job.task, now=t0.isoformat()) for job in PERIODIC_JOBS]
    run_burst_worker(queue)
    rows = runs_by_name()
    assert set(rows) == {job.name for job in PERIODIC_JOBS}
    assert all(row.runs == 1 and row.failures == 0 for row in rows.values())
    for job, name in zip(enqueued, [j.name for j in PERIODIC_JOBS], strict=True):
        job.refresh()
        assert job.return_value() == rows[name].last_report
    assert rows["process_sequences"].totals["steps"] > 0


def test_concurrent_runs_in_two_workers_lose_no_counts(pg_app):
    """Each thread is a worker with its own connection; 2 x 25 runs must give 50."""
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def worker() -> None:
        try:
            with pg_app.app_context():
                start.wait()
                for i in range(25):
                    job_runs.record(
                        "process_sequences",
                        lambda now: PassReport("x", {"steps": 2}),
                        T0 + timedelta(seconds=i),
                    )
                db.session.remove()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    row = runs_by_name()["process_sequences"]
    assert (row.runs, row.totals) == (50, {"steps": 100})
