"""`/metrics`: Prometheus text read from the database at scrape time, behind METRICS_TOKEN
(unset: 404; missing or wrong bearer token: 401)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client.parser import text_string_to_metric_families
from rq import Queue
from sqlalchemy import update

from app.extensions import db
from app.models import ContactSequence
from tests.conftest import REDIS_URL
from tests.engine.test_onboarding_e2e import start_onboarding
from tests.helpers import tick

TOKEN = "metrics-secret"


def scrape(app) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample by (name, labels), parsed by Prometheus's own text parser."""
    answer = app.test_client().get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert answer.status_code == 200, answer.text
    assert answer.headers["Content-Type"].startswith("text/plain; version=")
    assert "Set-Cookie" not in answer.headers
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(answer.text)
        for sample in family.samples
    }


def job(name: str) -> tuple[tuple[str, str], ...]:
    return (("job", name),)


def test_metrics_is_404_without_the_token_setting(app):
    assert app.test_client().get("/metrics").status_code == 404
    assert (
        app.test_client().get("/metrics", headers={"Authorization": "Bearer x"}).status_code == 404
    )


def test_metrics_is_401_without_or_with_a_wrong_token(app):
    app.config["METRICS_TOKEN"] = TOKEN
    client = app.test_client()
    assert client.get("/metrics").status_code == 401
    wrong = client.get("/metrics", headers={"Authorization": "Bearer not-it"})
    assert wrong.status_code == 401 and wrong.headers["WWW-Authenticate"].startswith("Bearer")
    assert client.get("/metrics", headers={"Authorization": TOKEN}).status_code == 401


def test_metrics_parse_and_count_steps_emails_runs_lag_and_stuck(app, api):
    app.config["METRICS_TOKEN"] = TOKEN
    _, t0 = start_onboarding(api)
    tick(app, t0)  # 3 welcome emails, captured (no SMTP_URL)
    ago = datetime.now(UTC) - timedelta(hours=2)
    db.session.execute(
        update(ContactSequence)
        .where(ContactSequence.status == "active")
        .values(next_execution_at=ago)
    )
    db.session.commit()

    samples = scrape(app)
    assert samples[("penguinmails_steps_processed_total", ())] >= 3
    assert samples[("penguinmails_enrollments_advanced_total", ())] == 3
    assert samples[("penguinmails_emails_total", (("status", "captured"),))] == 3
    assert samples[("penguinmails_emails_total", (("status", "sent"),))] == 0
    assert samples[("penguinmails_job_runs_total", job("process_sequences"))] == 1
    assert samples[("penguinmails_job_failures_total", job("process_sequences"))] == 0
    assert samples[("penguinmails_job_runs_total", job("poll_inboxes"))] == 0
    assert samples[("penguinmails_job_duration_seconds_total", job("dispatch_mail"))] >= 0
    assert samples[("penguinmails_job_last_duration_seconds", job("dispatch_mail"))] >= 0
    assert samples[
        ("penguinmails_job_last_success_timestamp_seconds", job("process_sequences"))
    ] == pytest.approx(t0.timestamp(), abs=5)
    assert 7200 <= samples[("penguinmails_lag_seconds", (("kind", "enrollment"),))] < 7300
    assert samples[("penguinmails_lag_seconds", (("kind", "message"),))] == 0
    assert samples[("penguinmails_stuck_enrollments", ())] == 3
    assert samples[("penguinmails_failing_messages", ())] == 0
    assert not any(name.startswith("penguinmails_rq_") for name, _ in samples)


@pytest.mark.redis
def test_metrics_give_the_rq_queue_lengths_when_redis_is_used(app, redis_conn):
    app.config.update(METRICS_TOKEN=TOKEN, REDIS_URL=REDIS_URL)
    queue = Queue("default", connection=redis_conn)
    queue.enqueue("jobs.tasks.monitor_goals")
    queue.enqueue("jobs.tasks.monitor_goals")
    samples = scrape(app)
    assert samples[("penguinmails_rq_queue_length", (("queue", "default"),))] == 2
    assert samples[("penguinmails_rq_failed_jobs", (("queue", "default"),))] == 0
    assert samples[("penguinmails_rq_workers", ())] == 0
