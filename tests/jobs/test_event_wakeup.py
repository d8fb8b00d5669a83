"""Worker mode: an event arriving through the API moves the contact waiting for it on within
two seconds, through a real `rq worker` process (the seed's trigger-listener)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import UTC, datetime

import pytest
from rq import Worker
from sqlalchemy import create_engine, text

from app.services.scheduling import run_processor
from tests.conftest import REDIS_URL, api_for
from tests.helpers import ROOT

pytestmark = pytest.mark.redis

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


def met_steps(url: str) -> int:
    """Counted on a connection of its own: the worker commits in another process."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            query = "SELECT count(*) FROM sequence_step_logs WHERE outcome = 'met'"
            return conn.execute(text(query)).scalar_one()
    finally:
        engine.dispose()


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
    env = {**os.environ, "DATABASE_URL": url, "REDIS_URL": REDIS_URL}
    worker = subprocess.Popen(
        [sys.executable, "-m", "rq.cli", "worker", "--url", REDIS_URL, "default"],
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
        assert met_steps(url) == 0

        started = time.monotonic()
        event = {"contact": {"email": "sleeper@example.com"}, "event": "user_login"}
        assert api.post("/api/events", json=event).status_code == 202
        while met_steps(url) == 0 and time.monotonic() - started < 10:
            time.sleep(0.05)
        elapsed = time.monotonic() - started
    finally:
        worker.terminate()
        worker.wait(timeout=30)

    assert met_steps(url) == 1
    assert elapsed < 2.0, f"the waiting contact moved on after {elapsed:.2f} s"
