"""POST /api/enrollments/{id}/exit: the enrollment ends `exited` with the reason given, the
email it had queued is skipped by the dispatcher (a real SMTP server receives nothing), a
finished one is 409 and another workspace's is 404. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update

from app.extensions import db
from app.models import ContactSequence, OutboundMessage
from app.services.scheduling import run_dispatcher, run_processor
from tests.conftest import api_for
from tests.helpers import iso
from tests.services.test_goals import journey


def enrolled(api, name: str = "Sales Follow-up", who: str = "ada@example.com") -> dict[str, Any]:
    """A sequence launched for one contact through the API; its one enrollment as listed."""
    created = api.post("/api/sequences", json=journey(name, []))
    assert created.status_code == 201, created.json
    seq_id = created.json["id"]
    assert api.post(f"/api/sequences/{seq_id}/activate").status_code == 200
    assert api.post("/api/contacts", json={"email": who}).status_code in (200, 201)
    body = {"contacts": [{"email": who}]}
    assert api.post(f"/api/sequences/{seq_id}/enroll", json=body).json["enrolled"] == 1
    [row] = api.get(f"/api/sequences/{seq_id}/enrollments").json["enrollments"]
    return {**row, "sequence_id": seq_id}


def listed(api, row: dict[str, Any]) -> dict[str, Any]:
    [found] = api.get(f"/api/sequences/{row['sequence_id']}/enrollments").json["enrollments"]
    return found


def test_exit_with_a_reason_skips_the_queued_email(app, api, smtp_sink):
    row = enrolled(api)
    run_processor(iso(row["next_execution_at"]))  # Email 1 queued, not yet sent

    response = api.post(f"/api/enrollments/{row['id']}/exit", json={"reason": "asked to stop"})

    assert response.status_code == 200, response.json
    assert response.json["status"] == "exited"
    assert response.json["exit_reason"] == "removed through the API: asked to stop"
    now = listed(api, row)
    assert (now["status"], now["exit_reason"]) == (
        "exited",
        "removed through the API: asked to stop",
    )
    assert now["next_execution_at"] is None and now["finished_at"] == response.json["finished_at"]

    run_dispatcher(datetime.now(UTC))
    assert smtp_sink.messages == []
    [message] = db.session.scalars(select(OutboundMessage)).all()
    assert message.status == "skipped" and message.sent_at is None
    assert message.last_error == (
        "the enrollment exited before it was sent: removed through the API: asked to stop"
    )


def test_a_second_exit_is_409_and_keeps_the_first_reason(api):
    row = enrolled(api)
    path = f"/api/enrollments/{row['id']}/exit"
    assert api.post(path).status_code == 200  # no body: no reason of its own
    again = api.post(path, json={"reason": "twice"})
    assert again.status_code == 409
    assert "already finished (exited)" in again.json["error"]["message"]
    assert listed(api, row)["exit_reason"] == "removed through the API"


def test_a_paused_enrollment_can_be_removed_and_a_completed_one_cannot(api):
    paused, done = enrolled(api, "Paused one"), enrolled(api, "Done one")
    for row, status in ((paused, "paused"), (done, "completed")):
        db.session.execute(
            update(ContactSequence)
            .where(ContactSequence.id == uuid.UUID(row["id"]))
            .values(status=status)
        )
    db.session.commit()
    assert api.post(f"/api/enrollments/{paused['id']}/exit").status_code == 200
    assert listed(api, paused)["status"] == "exited"
    assert api.post(f"/api/enrollments/{done['id']}/exit").status_code == 409
    assert listed(api, done)["status"] == "completed"


def test_another_workspaces_enrollment_or_a_bad_id_is_404(app, api):
    row = enrolled(api)
    other = api_for(app, "Globex")
    for raw_id in (row["id"], "not-a-uuid", str(uuid.uuid4())):
        response = other.post(f"/api/enrollments/{raw_id}/exit")
        assert response.status_code == 404, raw_id
        assert response.json["error"]["message"] == "no such enrollment"
    assert app.test_client().post(f"/api/enrollments/{row['id']}/exit").status_code == 401
    assert listed(api, row)["status"] == "active"


def test_a_bad_reason_is_422_naming_it_and_changes_nothing(api):
    row = enrolled(api)
    path = f"/api/enrollments/{row['id']}/exit"
    for body in ({"reason": 7}, {"reason": "x" * 501}):
        response = api.post(path, json=body)
        assert response.status_code == 422
        assert response.json["error"]["field"] == "reason"
    assert api.post(path, json=["reason"]).status_code == 400
    assert listed(api, row)["status"] == "active"
