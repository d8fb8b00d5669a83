"""The webhook step end to end, against a real HTTP server on 127.0.0.1: one signed POST per
step taken, retried with backoff, codes in the step log, refusals recorded, never twice."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from app.extensions import db
from app.models import (
    ContactSequence,
    OutboundCall,
    Sequence,
    SequenceStep,
    StepLog,
    Workspace,
)
from app.services.call_delivery import MAX_ATTEMPTS, RETRY_BACKOFF_SECONDS
from app.services.enrollment import enroll_contacts
from tests.conftest import api_for
from tests.engine.test_concurrency import add_contacts, racing_ticks
from tests.helpers import THE_DAY_WRITTEN_FOR, tick
from tests.webhook_receiver import running_receiver

pytestmark = pytest.mark.wall_clock(THE_DAY_WRITTEN_FOR)

NOW = datetime(2026, 12, 7, 14, 0, tzinfo=UTC)
RACERS = 60


def email_webhook_end(url: str, payload: dict[str, Any] | None = None) -> dict[str, Any]:
    webhook: dict[str, Any] = {"url": url} | ({"payload": payload} if payload else {})
    return {
        "name": "Notify the CRM",
        "steps": [
            {"id": "welcome", "type": "email", "config": {"subject": "Hi", "body": "<p>Hi</p>"}},
            {"id": "notify_crm", "type": "webhook", "config": webhook},
            {"id": "done", "type": "end"},
        ],
        "connections": [
            {"source": "welcome", "target": "notify_crm"},
            {"source": "notify_crm", "target": "done"},
        ],
    }


def launch(api, definition: dict[str, Any], email: str = "ada@example.com") -> str:
    created = api.post("/api/sequences", json=definition)
    assert created.status_code == 201, created.json
    seq_id = created.json["id"]
    assert api.post(f"/api/sequences/{seq_id}/activate").status_code == 200
    contact = {"email": email, "first_name": "Ada", "fields": {"plan": "pro"}, "tags": ["vip"]}
    assert api.post("/api/contacts", json=contact).status_code in (200, 201)
    enrolled = api.post(f"/api/sequences/{seq_id}/enroll", json={"contacts": [{"email": email}]})
    assert enrolled.json["enrolled"] == 1
    return seq_id


def allow_private(app: Flask, allowed: bool = True) -> None:
    app.config["WEBHOOK_ALLOW_PRIVATE"] = allowed


def the_call() -> OutboundCall:
    db.session.expire_all()
    [call] = db.session.scalars(select(OutboundCall)).all()
    return call


def webhook_log() -> StepLog:
    db.session.expire_all()
    return db.session.scalars(
        select(StepLog)
        .join(SequenceStep, SequenceStep.id == StepLog.step_id)
        .where(SequenceStep.key == "notify_crm")
    ).one()


def codes(history: list[dict[str, Any]]) -> list[int | None]:
    return [entry["status_code"] for entry in history]


def test_an_email_then_webhook_sequence_posts_one_signed_json_payload(app, api):
    allow_private(app)
    with running_receiver() as receiver:
        seq_id = launch(api, email_webhook_end(receiver.url()))
        tick(app, NOW)

    [request] = receiver.requests
    assert request.headers["Content-Type"] == "application/json"
    body = json.loads(request.body)
    enrollment = db.session.scalars(select(ContactSequence)).one()
    assert body == {
        "event": "sequence.webhook",
        "occurred_at": "2026-12-07T14:00:00Z",
        "contact": {
            "email": "ada@example.com",
            "first_name": "Ada",
            "last_name": None,
            "fields": {"plan": "pro"},
            "tags": ["vip"],
        },
        "enrollment": {"id": str(enrollment.id)},
        "sequence": {"id": seq_id, "name": "Notify the CRM"},
        "step": {"id": "notify_crm"},
    }
    secret = db.session.scalars(select(Workspace.webhook_secret)).one()
    timestamp = request.headers["X-PenguinMails-Timestamp"]
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + request.body, hashlib.sha256)
    assert hmac.compare_digest(
        request.headers["X-PenguinMails-Signature"], f"sha256={expected.hexdigest()}"
    )
    assert abs(int(timestamp) - time.time()) < 60
    assert request.headers["X-PenguinMails-Delivery"] == str(the_call().id)

    assert enrollment.status == "completed"  # it did not wait for the answer
    call = the_call()
    assert (call.status, call.attempts, call.status_code) == ("delivered", 1, 200)
    assert call.response_excerpt and len(call.response_excerpt) <= 200
    detail = webhook_log().detail["call"]
    assert (detail["status"], detail["attempts"], detail["status_code"]) == ("delivered", 1, 200)


def test_an_author_payload_is_rendered_for_the_contact_in_the_sandbox(app, api):
    allow_private(app)
    payload = {
        "text": "New signup: {{ contact.first_name }} <{{ contact.email }}> on {{ contact.plan }}",
        "meta": {"enrollment": "{{ enrollment.id }}", "tags": ["{{ contact.tags | join(',') }}"]},
        "priority": 3,
    }
    with running_receiver() as receiver:
        launch(api, email_webhook_end(receiver.url(), payload))
        tick(app, NOW)
    enrollment = db.session.scalars(select(ContactSequence)).one()
    assert json.loads(receiver.requests[0].body) == {
        "text": "New signup: Ada <ada@example.com> on pro",
        "meta": {"enrollment": str(enrollment.id), "tags": ["vip"]},
        "priority": 3,
    }


def test_a_payload_template_the_sandbox_refuses_fails_the_call_without_a_request(app, api):
    allow_private(app)
    with running_receiver() as receiver:
        launch(api, email_webhook_end(receiver.url(), {"x": "{{ ''.__class__.__mro__ }}"}))
        tick(app, NOW)
    assert receiver.requests == []
    call = the_call()
    assert call.status == "failed" and "sandbox" in call.last_error
    assert db.session.scalars(select(ContactSequence)).one().status == "completed"


def test_a_500_is_retried_after_the_backoff_and_both_codes_land_in_the_step_log(app, api):
    allow_private(app)
    with running_receiver() as receiver:
        receiver.statuses = [500]
        launch(api, email_webhook_end(receiver.url()))
        tick(app, NOW)
        call = the_call()
        assert (call.status, call.status_code, call.attempts) == ("queued", 500, 1)
        wait = call.next_attempt_at - NOW
        assert timedelta(seconds=RETRY_BACKOFF_SECONDS[0]) <= wait < timedelta(seconds=70)

        tick(app, NOW + timedelta(seconds=30))  # not due yet
        assert len(receiver.requests) == 1
        tick(app, NOW + timedelta(minutes=2))

    assert len(receiver.requests) == 2
    first, second = receiver.requests
    assert first.body == second.body  # a retry sends the same payload
    assert first.headers["X-PenguinMails-Delivery"] == second.headers["X-PenguinMails-Delivery"]
    call = the_call()
    assert (call.status, call.status_code, call.attempts) == ("delivered", 200, 2)
    assert codes(call.history) == [500, 200]
    detail = webhook_log().detail["call"]
    assert detail["status"] == "delivered" and detail["attempts"] == 2
    assert codes(detail["history"]) == [500, 200]


def test_a_target_that_keeps_failing_is_given_up_after_the_last_backoff(app, api):
    allow_private(app)
    with running_receiver() as receiver:
        receiver.statuses = [503] * MAX_ATTEMPTS
        launch(api, email_webhook_end(receiver.url()))
        moment = NOW
        tick(app, moment)
        for backoff in RETRY_BACKOFF_SECONDS:  # 1 min, 5 min, 30 min, 2 h
            tick(app, moment + timedelta(seconds=backoff - 5))
            assert len(receiver.requests) == RETRY_BACKOFF_SECONDS.index(backoff) + 1
            moment += timedelta(seconds=backoff + 10)
            tick(app, moment)
    assert len(receiver.requests) == MAX_ATTEMPTS
    call = the_call()
    assert call.status == "failed" and call.attempts == MAX_ATTEMPTS
    assert call.last_error == f"gave up after {MAX_ATTEMPTS} attempts: answered 503"
    assert codes(webhook_log().detail["call"]["history"]) == [503] * MAX_ATTEMPTS


def test_a_call_to_loopback_without_webhook_allow_private_is_refused_and_recorded(app, api):
    allow_private(app)  # saved while allowed; the operator then turns it off
    with running_receiver() as receiver:
        launch(api, email_webhook_end(receiver.url()))
        allow_private(app, False)
        tick(app, NOW)
        tick(app, NOW + timedelta(hours=3))
    assert receiver.requests == []
    call = the_call()
    assert call.status == "failed" and call.attempts == 1 and call.status_code is None
    assert "127.0.0.1 is a loopback address" in call.last_error
    assert "WEBHOOK_ALLOW_PRIVATE" in call.last_error
    detail = webhook_log().detail["call"]
    assert detail["status"] == "failed" and "loopback" in detail["error"]
    assert db.session.scalars(select(ContactSequence)).one().status == "completed"


def test_a_host_name_that_resolves_to_loopback_is_refused_too(app, api):
    with running_receiver() as receiver:
        launch(api, email_webhook_end(receiver.url(host="localhost")))
        tick(app, NOW)
    assert receiver.requests == []
    assert "loopback address" in the_call().last_error


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("http://10.0.0.5/hook", "10.0.0.5 is a private address"),
        ("http://169.254.169.254/latest/meta-data", "link-local"),
        ("ftp://example.com/hook", "not an http:// or https:// URL"),
        ("https://user:secret@example.com/hook", "user name or password"),
    ],
)
def test_an_unfit_url_is_refused_at_save_naming_step_and_field(api, url, words):
    refused = api.post("/api/sequences", json=email_webhook_end(url))
    assert refused.status_code == 422, refused.json
    error = refused.json["error"]
    assert error["step"] == "notify_crm" and error["field"] == "config.url", error
    assert words in error["message"]


@pytest.mark.latency
def test_a_slow_receiver_times_out_after_5_s_and_is_retried(pg_app):
    """The 5 s are spent waiting on the socket, whatever the database: one backend is enough
    (the retry's bookkeeping runs on both in the 500 test above). The receiver would answer
    after 20 s, so a pass well under that gave up on its own; the margin is for the rest of
    the pass on a loaded machine (CI once took 6.5 s with a 7 s receiver)."""
    app, api = pg_app, api_for(pg_app, "Slow")
    allow_private(app)
    with running_receiver() as receiver:
        receiver.delay_seconds, receiver.slow_answers = 20.0, 1
        launch(api, email_webhook_end(receiver.url()))
        started = time.monotonic()
        tick(app, NOW)
        assert 5 <= time.monotonic() - started < 15
        call = the_call()
        assert call.status == "queued" and call.status_code is None
        assert "no answer within 5 s" in call.last_error
        tick(app, NOW + timedelta(minutes=2))
    assert len(receiver.requests) == 2
    assert codes(the_call().history) == [None, 200]
    assert the_call().status == "delivered"


def test_two_racing_tick_processes_record_and_deliver_each_call_once(pg_app):
    """Processing and delivering the same enrollments twice at once (PostgreSQL, two
    processes): one call per enrollment is recorded, and each is POSTed once."""
    allow_private(pg_app)
    api = api_for(pg_app, "Race")
    with running_receiver() as receiver:
        created = api.post("/api/sequences", json=email_webhook_end(receiver.url()))
        seq_id = uuid.UUID(created.json["id"])
        assert api.post(f"/api/sequences/{seq_id}/activate").status_code == 200
        sequence = db.session.get_one(Sequence, seq_id)
        contacts = add_contacts(api.workspace_id, sequence.tenant_id, RACERS)
        assert len(enroll_contacts(sequence, contacts, NOW).enrolled) == RACERS
        env = {
            **os.environ,
            "DATABASE_URL": pg_app.config["SQLALCHEMY_DATABASE_URI"],
            "EMBEDDED_SCHEDULER": "0",
            "WEBHOOK_ALLOW_PRIVATE": "1",
            "PROCESSOR_BATCH_SIZE": "10",
            "CALL_BATCH_SIZE": "5",
        }
        racing_ticks(NOW, env)

    calls = db.session.scalars(select(OutboundCall)).all()
    assert len(calls) == RACERS and {call.status for call in calls} == {"delivered"}
    deliveries = Counter(r.headers["X-PenguinMails-Delivery"] for r in receiver.requests)
    assert len(deliveries) == RACERS and set(deliveries.values()) == {1}
    emails = Counter(json.loads(r.body)["contact"]["email"] for r in receiver.requests)
    assert set(emails.values()) == {1}
