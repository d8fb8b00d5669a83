"""Worker mode, through a real `rq worker` process (the seed's trigger-listener): an event
arriving through the API moves the contact waiting for it on within two seconds, and a
contact joining a segment is enrolled and has Email 1 queued within seconds."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import pytest
from rq import Worker
from sqlalchemy import create_engine, text

from app.extensions import db
from app.models import Workspace
from app.services import segments
from app.services.scheduling import run_processor
from tests.conftest import REDIS_URL, api_for
from tests.helpers import ROOT, RQ_WORKER

pytestmark = [pytest.mark.redis, pytest.mark.latency]

WAIT_FOR_LOGIN = {
    "format": "sequence/v1",
    "name": "Come back",
    "trigger": {"type": "manual"},
    "steps": [
        {"id": "hello", "type": "email", "config": {"subject": "Hello", "body": "<p>.</p>"}},
        {
            "id": "wait",
            "type": "wait_until",
            "config": {"conditions": [{"event": "user_login", "timeout": "7 days"}]},
        },
        {"id": "back", "type": "email", "config": {"subject": "Welcome back", "body": "<p>.</p>"}},
        {"id": "done", "type": "end"},
    ],
    "connections": [
        {"source": "hello", "target": "wait"},
        {"source": "wait", "target": "back", "label": "met"},
        {"source": "wait", "target": "done", "label": "timeout"},
    ],
}


def count(url: str, query: str) -> int:
    """Counted on a connection of its own: the worker commits in another process."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(text(query)).scalar_one()
    finally:
        engine.dispose()


def met_steps(url: str) -> int:
    return count(url, "SELECT count(*) FROM sequence_step_logs WHERE outcome = 'met'")


@contextmanager
def rq_worker(url: str, redis_conn) -> Iterator[None]:
    """A real `rq worker` process on the default queue, started and then stopped."""
    env = {**os.environ, "DATABASE_URL": url, "REDIS_URL": REDIS_URL}
    worker = subprocess.Popen(
        [*RQ_WORKER, "--url", REDIS_URL, "default"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while not Worker.all(connection=redis_conn) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert Worker.all(connection=redis_conn), "the rq worker did not start"
        yield
    finally:
        worker.terminate()
        worker.wait(timeout=30)


def test_an_event_wakes_the_waiting_contact_within_two_seconds(pg_app, redis_conn):
    pg_app.config["REDIS_URL"] = REDIS_URL
    api = api_for(pg_app, "Wake Co")
    created = api.post("/api/sequences", json=WAIT_FOR_LOGIN)
    assert api.post(f"/api/sequences/{created.json['id']}/activate").status_code == 200
    api.post("/api/contacts", json={"email": "sleeper@example.com"})
    enroll = {"contacts": [{"email": "sleeper@example.com"}]}
    assert api.post(f"/api/sequences/{created.json['id']}/enroll", json=enroll).json["enrolled"]
    run_processor(datetime.now(UTC))  # email 1 queued, the contact now waits for a login

    url = pg_app.config["SQLALCHEMY_DATABASE_URI"]
    with rq_worker(url, redis_conn):
        assert met_steps(url) == 0
        started = time.monotonic()
        event = {"contact": {"email": "sleeper@example.com"}, "event": "user_login"}
        assert api.post("/api/events", json=event).status_code == 202
        while met_steps(url) == 0 and time.monotonic() - started < 10:
            time.sleep(0.05)
        elapsed = time.monotonic() - started

    assert met_steps(url) == 1
    assert elapsed < 2.0, f"the waiting contact moved on after {elapsed:.2f} s"


def test_joining_a_segment_enrolls_and_queues_email_1_within_seconds(pg_app, redis_conn):
    pg_app.config["REDIS_URL"] = REDIS_URL
    api = api_for(pg_app, "Join Co")
    definition = {
        "format": "sequence/v1",
        "name": "Trial welcome",
        "trigger": {"type": "segment_join", "segment": "Trials"},
        "steps": [{"id": "hi", "type": "email", "config": {"subject": "Hi", "body": "<p>.</p>"}}],
        "connections": [],
    }
    created = api.post("/api/sequences", json=definition)
    assert api.post(f"/api/sequences/{created.json['id']}/activate").status_code == 200
    workspace = db.session.get_one(Workspace, api.workspace_id)
    rule = {"type": "field", "field": "plan", "op": "eq", "value": "trial"}
    segments.create_segment(workspace, "Trials", "rule", rule, datetime.now(UTC))
    contact = api.post("/api/contacts", json={"email": "new@example.com"}).json

    url = pg_app.config["SQLALCHEMY_DATABASE_URI"]
    queued = "SELECT count(*) FROM outbound_messages WHERE status = 'queued'"
    with rq_worker(url, redis_conn):
        started = time.monotonic()
        change = {"fields": {"plan": "trial"}}
        assert api.patch(f"/api/contacts/{contact['id']}", json=change).status_code == 200
        while count(url, queued) == 0 and time.monotonic() - started < 15:
            time.sleep(0.05)
        elapsed = time.monotonic() - started

    assert count(url, "SELECT count(*) FROM contact_sequences") == 1
    assert count(url, queued) == 1
    assert elapsed < 5.0, f"Email 1 was queued after {elapsed:.2f} s"
