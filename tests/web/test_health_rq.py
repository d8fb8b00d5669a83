"""The health page's RQ section with a real Redis: queues, workers, failed jobs, and
Requeue (one or all) putting a failed job back on its queue."""

from __future__ import annotations

import re

import pytest
from rq import Queue

from tests.conftest import REDIS_URL
from tests.helpers import run_burst_worker
from tests.web.client import CSRF_INPUT, signed_in

pytestmark = pytest.mark.redis


def failed_job(queue: Queue) -> str:
    """A periodic pass given a moment that is not one: it fails in a real worker."""
    job = queue.enqueue("jobs.tasks.monitor_goals", now="not-a-moment")
    run_burst_worker(queue)
    assert job.get_status(refresh=True) == "failed"
    return job.id


def test_a_failed_job_is_listed_and_requeue_puts_it_back_on_its_queue(app, redis_conn):
    app.config["REDIS_URL"] = REDIS_URL
    queue = Queue("default", connection=redis_conn)
    job_id = failed_job(queue)
    web = signed_in(app, "Acme", "ops@acme.test")

    page = web.get("/health").text
    row = re.search(rf'<tr data-failed-job="{job_id}">(.*?)</tr>', page, re.S)
    assert row, page
    assert "jobs.tasks.monitor_goals" in row.group(1)
    assert "ValueError: Invalid isoformat string: &#39;not-a-moment&#39;" in row.group(1)
    assert re.search(r"<td>default</td><td>0</td><td>1</td>", page)
    assert "No RQ worker is running" in page

    token = CSRF_INPUT.search(page).group(1)
    assert web.post(f"/health/failed-jobs/{job_id}/requeue").status_code == 400  # no CSRF
    done = web.post(f"/health/failed-jobs/{job_id}/requeue", data={"csrf_token": token})
    assert done.status_code == 302
    assert queue.get_job_ids() == [job_id]
    assert queue.failed_job_registry.count == 0
    assert "is back on its queue" in web.get("/health").text

    again = web.post(f"/health/failed-jobs/{job_id}/requeue", data={"csrf_token": token})
    assert again.status_code == 302
    assert "not a failed job any more" in web.get("/health").text


def test_requeue_all_puts_every_failed_job_back(app, redis_conn):
    app.config["REDIS_URL"] = REDIS_URL
    queue = Queue("default", connection=redis_conn)
    ids = {failed_job(queue), failed_job(queue)}
    web = signed_in(app, "Acme", "ops@acme.test")
    token = web.csrf_token("/health")
    assert (
        web.post("/health/failed-jobs/requeue-all", data={"csrf_token": token}).status_code == 302
    )
    assert set(queue.get_job_ids()) == ids
    assert queue.failed_job_registry.count == 0
    assert "2 failed job(s) back on their queues." in web.get("/health").text


def test_without_redis_there_is_no_rq_section_and_requeue_is_404(app):
    web = signed_in(app, "Acme", "ops@acme.test")
    page = web.get("/health").text
    assert "<h2>RQ</h2>" not in page
    token = CSRF_INPUT.search(page).group(1)
    assert web.post("/health/failed-jobs/x/requeue", data={"csrf_token": token}).status_code == 404


def test_an_unreachable_redis_is_named_on_the_page(app):
    app.config["REDIS_URL"] = "redis://127.0.0.1:1/0"
    page = signed_in(app, "Acme", "ops@acme.test").get("/health")
    assert page.status_code == 200
    assert "Redis did not answer" in page.text
