"""Worker mode: a real Redis, `rq cron`'s config enqueues the periodic jobs, workers run them."""

from __future__ import annotations

import os
import subprocess
from datetime import timedelta

import pytest
import redis
from rq import Queue
from rq.cron import CronScheduler
from sqlalchemy import select

from app.extensions import db
from app.models import ContactSequence
from app.schedule import PERIODIC_JOBS, should_run
from tests.conftest import REDIS_URL, api_for
from tests.engine.test_onboarding_e2e import SUBJECTS, start_onboarding, subjects_by_recipient
from tests.helpers import ROOT, RQ_WORKER, run_burst_worker
from tests.smtp_sink import running_sink

pytestmark = pytest.mark.redis


def run_worker(conn: redis.Redis) -> None:
    run_burst_worker(Queue("default", connection=conn))


def test_the_onboarding_flow_runs_through_rq(app, api, smtp_sink, redis_conn):
    _, t0 = start_onboarding(api)

    cron = CronScheduler(connection=redis_conn)
    cron.load_config_from_file("jobs.cron")
    enqueued = cron.enqueue_jobs()
    assert [job.name for job in enqueued] == [
        "process_sequences",
        "dispatch_mail",
        "deliver_calls",
        "purge_event_receipts",
        "process_contact_imports",
        "refresh_segments",
        "monitor_goals",
        "evaluate_ab_tests",
        "poll_inboxes",
        "retain_history",
    ]
    run_worker(redis_conn)
    assert len(smtp_sink.messages) == 3

    queue = Queue("default", connection=redis_conn)
    # the cron run used the wall clock, a moment after t0: leave a minute's margin
    for moment in (t0 + timedelta(days=2, minutes=1), t0 + timedelta(days=5, minutes=2)):
        for job in PERIODIC_JOBS:
            queue.enqueue(job.task, now=moment.isoformat())
        run_worker(redis_conn)

    received = subjects_by_recipient(smtp_sink)
    assert len(received) == 3 and all(subjects == SUBJECTS for subjects in received.values())
    assert set(db.session.scalars(select(ContactSequence.status))) == {"completed"}


def test_a_forking_rq_worker_process_sends_the_first_emails(pg_app, redis_conn):
    """The production path: `rq worker` in its own process builds the app from the environment."""
    api = api_for(pg_app, "Worker Co")
    for sink in running_sink():
        start_onboarding(api)
        cron = CronScheduler(connection=redis_conn)
        cron.load_config_from_file("jobs.cron")
        cron.enqueue_jobs()
        env = {
            **os.environ,
            "DATABASE_URL": pg_app.config["SQLALCHEMY_DATABASE_URI"],
            "REDIS_URL": REDIS_URL,
            "SMTP_URL": sink.url,
        }
        subprocess.run(
            [*RQ_WORKER, "--burst", "--url", REDIS_URL, "default"],
            env=env,
            cwd=ROOT,
            check=True,
            timeout=120,
            capture_output=True,
        )
        assert sorted(str(m["Subject"]) for m in sink.messages) == [SUBJECTS[0]] * 3


def test_the_schedule_is_data_with_a_pure_due_rule():
    assert {job.name for job in PERIODIC_JOBS} == {
        "process_sequences",
        "dispatch_mail",
        "deliver_calls",
        "purge_event_receipts",
        "process_contact_imports",
        "refresh_segments",
        "monitor_goals",
        "evaluate_ab_tests",
        "poll_inboxes",
        "retain_history",
    }
    assert should_run(None, 5, 100.0)
    assert not should_run(98.0, 5, 100.0)
    assert should_run(95.0, 5, 100.0)
