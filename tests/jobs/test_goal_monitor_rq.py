"""Worker mode: `rq cron`'s config schedules the goal monitor every 30 seconds, and a worker
running it converts a goal reached without any event (a field set directly)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from rq import Queue
from rq.cron import CronScheduler
from sqlalchemy import select, update

from app.extensions import db
from app.models import Contact, ContactSequence, Conversion
from app.schedule import PERIODIC_JOBS
from jobs.tasks import monitor_goals
from tests.engine.test_goals_e2e import enroll_ada, launch
from tests.helpers import run_burst_worker, tick
from tests.services.test_goals import BOOKED, journey

pytestmark = pytest.mark.redis


def test_the_monitor_job_runs_through_rq_and_converts(app, api, redis_conn):
    assert {job.name: job.interval_seconds for job in PERIODIC_JOBS}["monitor_goals"] == 30
    cron = CronScheduler(connection=redis_conn)
    cron.load_config_from_file("jobs.cron")
    assert "monitor_goals" in [job.name for job in cron.enqueue_jobs()]
    redis_conn.flushdb()

    _, t0 = enroll_ada(api, launch(api, journey("Sales Follow-up", [BOOKED])))
    tick(app, t0)
    db.session.execute(update(Contact).values(fields={"deal_stage": "Meeting Booked"}))
    db.session.commit()

    queue = Queue("default", connection=redis_conn)
    job = queue.enqueue(monitor_goals, now=(t0 + timedelta(seconds=30)).isoformat())
    run_burst_worker(queue)

    assert job.return_value() == "recorded 1 conversion(s)"
    db.session.expire_all()
    [conversion] = db.session.scalars(select(Conversion)).all()
    assert conversion.source == "monitor"
    status, reason = db.session.execute(
        select(ContactSequence.status, ContactSequence.exit_reason)
    ).one()
    assert (status, reason) == ("exited", "goal 'Booked Meeting' reached")
