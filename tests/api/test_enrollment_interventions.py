"""POST /api/enrollments/{id}/pause|resume|skip-wait|move|exit: each changes the enrollment,
answers its new state and records who (the token) and why in the audit log; 409 names the
status that refuses it, 422 the field, and another workspace's enrollment is 404. The
skip-wait and pause/resume journeys end at a real SMTP server. SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from sqlalchemy import select, update

from app.extensions import db
from app.models import ContactSequence, EnrollmentChange, OutboundMessage, SequenceStep
from app.services.scheduling import run_dispatcher, run_processor
from tests.api.test_enrollment_exit import enrolled, listed
from tests.conftest import api_for
from tests.helpers import iso

ACTIONS = ("pause", "resume", "skip-wait", "move", "exit")


def waiting(api) -> dict:
    """An enrollment that sent nothing yet: Email 1 queued, on the 3-day delay."""
    row = enrolled(api)
    run_processor(iso(row["next_execution_at"]))
    return {**listed(api, row), "sequence_id": row["sequence_id"]}


def changes() -> list[EnrollmentChange]:
    db.session.expire_all()
    return list(db.session.scalars(select(EnrollmentChange).order_by(EnrollmentChange.id)))


def set_status(row: dict, status: str) -> None:
    db.session.execute(
        update(ContactSequence)
        .where(ContactSequence.id == uuid.UUID(row["id"]))
        .values(status=status)
    )
    db.session.commit()


@pytest.mark.parametrize("action", ACTIONS)
def test_an_intervention_on_another_workspaces_enrollment_or_a_bad_id_is_404(app, api, action):
    row = enrolled(api)
    other = api_for(app, "Globex")
    for raw_id in (row["id"], "not-a-uuid", str(uuid.uuid4())):
        response = other.post(f"/api/enrollments/{raw_id}/{action}", json={"step": "email_2"})
        assert response.status_code == 404, (raw_id, response.json)
        assert response.json["error"]["message"] == "no such enrollment"
    assert listed(api, row)["status"] == "active" and changes() == []


def test_pause_then_resume_answer_the_state_and_are_recorded_with_the_token_and_reason(api):
    row = waiting(api)
    path = f"/api/enrollments/{row['id']}"

    paused = api.post(f"{path}/pause", json={"reason": "customer on holiday"})
    again = api.post(f"{path}/pause")
    resumed = api.post(f"{path}/resume")

    assert paused.status_code == 200, paused.json
    assert paused.json["status"] == "paused" and paused.json["current_step"] == "wait_3d"
    assert again.status_code == 409
    assert again.json["error"]["message"] == (
        "this enrollment is paused; only an active one can be paused"
    )
    assert resumed.status_code == 200 and resumed.json["status"] == "active"
    assert resumed.json["next_execution_at"] == row["next_execution_at"]  # still ahead
    first, second = changes()
    assert (first.action, first.detail, second.action, second.detail) == (
        "pause",
        "customer on holiday",
        "resume",
        None,
    )
    assert first.actor.startswith("API token '") and first.enrollment_id == uuid.UUID(row["id"])


def test_resume_of_an_active_enrollment_is_409_naming_its_status(api):
    row = waiting(api)
    response = api.post(f"/api/enrollments/{row['id']}/resume")
    assert response.status_code == 409
    assert response.json["error"]["message"] == (
        "this enrollment is active; only a paused one can be resumed"
    )


def test_skip_wait_is_409_when_the_enrollment_is_not_waiting(api):
    row = enrolled(api)  # not processed yet: on Email 1, not on a wait
    response = api.post(f"/api/enrollments/{row['id']}/skip-wait")
    assert response.status_code == 409
    assert "not waiting on a delay or wait_until step" in response.json["error"]["message"]
    set_status(row, "completed")
    finished = api.post(f"/api/enrollments/{row['id']}/skip-wait")
    assert finished.status_code == 409 and "is completed" in finished.json["error"]["message"]


def test_move_needs_a_live_step_and_refuses_a_finished_run(api):
    row = waiting(api)
    path = f"/api/enrollments/{row['id']}/move"
    for body, wanted in (
        (None, "step must be"),
        ({"step": 7}, "step must be"),
        ({"step": "nope"}, "step 'nope' is not in the sequence"),
    ):
        response = api.post(path, json=body)
        assert response.status_code == 422, body
        assert response.json["error"]["field"] == "step"
        assert wanted in response.json["error"]["message"]
    db.session.execute(
        update(SequenceStep).where(SequenceStep.key == "email_2").values(retired_in=2)
    )
    db.session.commit()
    retired = api.post(path, json={"step": "email_2"})
    assert retired.status_code == 422
    assert retired.json["error"]["message"] == (
        "step 'email_2' was removed in version 2; pick a step of the live version"
    )

    moved = api.post(path, json={"step": "email_1", "reason": "send the welcome again"})
    assert moved.status_code == 200, moved.json
    assert (moved.json["status"], moved.json["current_step"]) == ("active", "email_1")
    [change] = changes()
    assert (change.from_step, change.to_step, change.detail) == (
        "wait_3d",
        "email_1",
        "send the welcome again",
    )
    set_status(row, "completed")
    finished = api.post(path, json={"step": "email_1"})
    assert finished.status_code == 409
    assert finished.json["error"]["message"] == (
        "this enrollment is completed; re-enroll the contact to start a finished run again"
    )


def test_exit_through_the_api_is_recorded_in_the_audit_log(api):
    row = waiting(api)
    response = api.post(f"/api/enrollments/{row['id']}/exit", json={"reason": "asked to stop"})
    assert response.status_code == 200
    [change] = changes()
    assert (change.action, change.detail, change.from_step, change.to_step) == (
        "exit",
        "asked to stop",
        "wait_3d",
        None,
    )
    assert change.actor.startswith("API token '")


@pytest.mark.parametrize("action", ACTIONS)
def test_a_bad_reason_is_422_naming_it_on_every_intervention(api, action):
    row = waiting(api)
    response = api.post(
        f"/api/enrollments/{row['id']}/{action}", json={"reason": 7, "step": "email_1"}
    )
    assert response.status_code == 422
    assert response.json["error"]["field"] == "reason"
    assert listed(api, row)["status"] == "active" and changes() == []


def test_skip_wait_through_the_api_sends_the_next_email_at_the_next_tick(app, api, smtp_sink):
    """A contact on a 3-day delay before Email 2: skipping its wait through the API, the
    next processor pass queues Email 2 and the dispatcher delivers it."""
    row = waiting(api)
    run_dispatcher(datetime.now(UTC))
    assert [m["Subject"] for m in smtp_sink.wait_for(1)] == ["Sales Follow-up 1"]

    skipped = api.post(f"/api/enrollments/{row['id']}/skip-wait", json={"reason": "asked for it"})
    assert skipped.status_code == 200, skipped.json
    assert skipped.json["skip_wait"] is True

    now = datetime.now(UTC)
    assert run_processor(now).emails == 1
    queued = db.session.scalar(
        select(OutboundMessage.status)
        .join(SequenceStep, SequenceStep.id == OutboundMessage.step_id)
        .where(SequenceStep.key == "email_2")
    )
    assert queued == "queued"
    run_dispatcher(now)
    received = smtp_sink.wait_for(2)
    assert [m["Subject"] for m in received] == ["Sales Follow-up 1", "Sales Follow-up 2"]
    assert received[1]["To"] == "ada@example.com"
    assert listed(api, row)["status"] == "completed"
    assert [c.action for c in changes()] == ["skip_wait"]


def test_a_paused_enrollment_holds_its_queued_email_until_it_resumes(app, api, smtp_sink):
    row = waiting(api)  # Email 1 queued
    assert api.post(f"/api/enrollments/{row['id']}/pause").status_code == 200

    run_dispatcher(datetime.now(UTC))
    assert smtp_sink.messages == []
    assert db.session.scalar(select(OutboundMessage.status)) == "queued"

    assert api.post(f"/api/enrollments/{row['id']}/resume").status_code == 200
    run_dispatcher(datetime.now(UTC))
    assert [m["Subject"] for m in smtp_sink.wait_for(1)] == ["Sales Follow-up 1"]
