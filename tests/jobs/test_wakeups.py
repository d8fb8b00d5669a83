"""Wake-ups (app.services.wakeups) with a real Redis and rq's in-process worker: a pass that
queued email enqueues the dispatcher once, an event that ends a wait enqueues the processor
once, a processor job polls, is kicked by a wake-up and makes way, and the embedded thread runs
a woken pass at once."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from rq import Queue
from sqlalchemy import func, select

from app.embedded_scheduler import EmbeddedScheduler
from app.extensions import db
from app.models import OutboundMessage
from app.schedule import PeriodicJob
from app.services import scheduling, wakeups
from tests.conftest import REDIS_URL, api_for
from tests.helpers import run_burst_worker
from tests.jobs.test_event_wakeup import WAIT_FOR_LOGIN

pytestmark = [pytest.mark.redis, pytest.mark.latency]

ONE_EMAIL = {
    "format": "sequence/v1",
    "name": "Hello",
    "trigger": {"type": "manual"},
    "steps": [{"id": "hi", "type": "email", "config": {"subject": "Hi", "body": "<p>.</p>"}}],
    "connections": [],
}


def queued_tasks(queue: Queue) -> list[str]:
    return [job.func_name for job in queue.get_jobs()]


def start(api, definition: dict, *emails: str) -> None:
    created = api.post("/api/sequences", json=definition).json
    assert api.post(f"/api/sequences/{created['id']}/activate").status_code == 200
    for email in emails:
        api.post("/api/contacts", json={"email": email})
    contacts = [{"email": email} for email in emails]
    response = api.post(f"/api/sequences/{created['id']}/enroll", json={"contacts": contacts})
    assert response.json["enrolled"] == len(emails)


def sent_or_captured() -> int:
    done = OutboundMessage.status.in_(("sent", "captured"))
    return db.session.scalar(select(func.count()).where(done))


def test_a_pass_that_queues_email_enqueues_one_dispatcher_job(pg_app, redis_conn):
    pg_app.config["REDIS_URL"] = REDIS_URL
    queue = Queue(wakeups.QUEUE, connection=redis_conn)
    api = api_for(pg_app, "Wake Co")
    start(api, ONE_EMAIL, "a@example.com", "b@example.com")
    queue.empty()  # the enrollment's own nudge of the processor

    scheduling.process_sequences(datetime.now(UTC))
    scheduling.process_sequences(datetime.now(UTC))  # nothing new: no second job either
    assert queued_tasks(queue) == ["jobs.tasks.dispatch_mail"]

    start(api, ONE_EMAIL, "c@example.com")
    queue.empty()
    scheduling.process_sequences(datetime.now(UTC))
    assert queued_tasks(queue) == [], "a dispatcher job is still pending: no second one"
    redis_conn.delete("penguinmails:wake:dispatch_mail")  # as if that job had started
    start(api, ONE_EMAIL, "d@example.com")
    queue.empty()
    scheduling.process_sequences(datetime.now(UTC))
    assert queued_tasks(queue) == ["jobs.tasks.dispatch_mail"]

    run_burst_worker(queue)
    assert sent_or_captured() == 4
    assert redis_conn.get("penguinmails:wake:dispatch_mail") is None, "the job cleared its key"


def test_an_event_that_ends_a_wait_enqueues_one_processor_job(pg_app, redis_conn):
    pg_app.config["REDIS_URL"] = REDIS_URL
    queue = Queue(wakeups.QUEUE, connection=redis_conn)
    api = api_for(pg_app, "Event Co")
    start(api, WAIT_FOR_LOGIN, "sleeper@example.com")
    scheduling.process_sequences(datetime.now(UTC))  # email 1 queued; now waiting
    queue.empty()
    redis_conn.delete("penguinmails:wake:process_sequences", "penguinmails:wake:dispatch_mail")

    other = {"contact": {"email": "sleeper@example.com"}, "event": "page_view"}
    assert api.post("/api/events", json=other).status_code == 202
    assert queued_tasks(queue) == [], "an event nobody waits for wakes nothing"
    login = {"contact": {"email": "sleeper@example.com"}, "event": "user_login"}
    for _ in range(3):
        assert api.post("/api/events", json=login).status_code == 202
    assert queued_tasks(queue) == ["jobs.tasks.process_sequences"]

    run_burst_worker(queue)  # the processor, then the dispatcher it woke
    subjects = db.session.scalars(select(OutboundMessage.subject).order_by(OutboundMessage.subject))
    assert list(subjects) == ["Hello", "Welcome back"]
    assert sent_or_captured() == 2


def test_a_processor_job_polls_for_what_falls_due_then_a_newer_one_takes_over(app, redis_conn):
    app.config["REDIS_URL"] = REDIS_URL
    due_at = datetime.now(UTC) + timedelta(seconds=0.3)
    ran: list[datetime] = []
    returned = threading.Event()

    def poll() -> None:
        with app.app_context():
            wakeups.keep_polling("process_sequences", ran.append, lambda: due_at)
        returned.set()

    threading.Thread(target=poll, daemon=True).start()
    time.sleep(0.7)
    assert ran and ran[0] >= due_at
    assert ran[0] - due_at < timedelta(seconds=wakeups.POLL_SECONDS * 3)
    assert not returned.is_set()
    redis_conn.set("penguinmails:poller:process_sequences", b"a newer job")
    assert returned.wait(wakeups.POLL_SECONDS * 5), "the old poller kept polling"


def test_a_wake_up_while_a_processor_job_polls_makes_it_look_now_instead_of_enqueueing_a_job(
    app, redis_conn, monkeypatch
):
    app.config["REDIS_URL"] = REDIS_URL
    monkeypatch.setattr(wakeups, "POLL_SECONDS", 1.5)  # left alone, it would look once
    queue = Queue(wakeups.QUEUE, connection=redis_conn)
    due_at: list[datetime] = []
    ran: list[datetime] = []

    def poll() -> None:
        with app.app_context():
            wakeups.keep_polling("process_sequences", ran.append, lambda: min(due_at, default=None))

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    channel = "penguinmails:kick:process_sequences"
    while redis_conn.pubsub_numsub(channel) != [(channel.encode(), 1)]:
        time.sleep(0.01)  # until it listens for kicks
    due_at.append(datetime.now(UTC))
    woken = time.monotonic()
    for _ in range(3):  # a burst of events
        wakeups.wake("process_sequences")
    while not ran and time.monotonic() - woken < 1.2:
        time.sleep(0.01)
    assert ran, "the poller did not look when woken"
    assert queued_tasks(queue) == [], "no processor job was enqueued beside the poller"
    poller.join(5)
    assert not poller.is_alive()
    wakeups.wake("process_sequences")
    assert queued_tasks(queue) == ["jobs.tasks.process_sequences"], "no poller: a job again"


def test_a_polling_processor_job_makes_way_for_waiting_jobs(app, redis_conn):
    app.config["REDIS_URL"] = REDIS_URL
    queue = Queue(wakeups.QUEUE, connection=redis_conn)
    queue.enqueue("jobs.tasks.deliver_calls")
    started = time.monotonic()
    passes = wakeups.keep_polling("process_sequences", lambda now: None, lambda: None)
    assert passes == 0
    assert time.monotonic() - started < wakeups.POLL_SECONDS * (wakeups.YIELD_AFTER_POLLS + 2)
    assert queued_tasks(queue) == ["jobs.tasks.deliver_calls", "jobs.tasks.process_sequences"]


def test_the_embedded_thread_runs_the_processor_and_dispatcher_when_woken(app, api):
    assert not app.config.get("REDIS_URL")
    hourly = tuple(
        PeriodicJob(work, interval_seconds=3600)
        for work in (scheduling.process_sequences, scheduling.dispatch_mail)
    )
    scheduler = EmbeddedScheduler(app, hourly)
    scheduler.start()
    try:
        time.sleep(0.3)  # the first loop runs both; the next runs are an hour away
        started = time.monotonic()
        start(api, ONE_EMAIL, "now@example.com")  # commits, then wakes the processor
        while sent_or_captured() == 0 and time.monotonic() - started < 5:
            time.sleep(0.05)
            db.session.rollback()
        elapsed = time.monotonic() - started
    finally:
        scheduler.stop()
        scheduler.join(5)
    assert sent_or_captured() == 1
    assert elapsed < 2, f"captured after {elapsed:.2f} s"
    assert wakeups.LOCAL_WAKER not in app.extensions, "a stopped thread wakes nothing"
