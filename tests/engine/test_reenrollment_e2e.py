"""Re-enrollment through a real trigger (an `api_event`), a real SMTP server and `tick`:
never, always and after 90 days, with the earlier runs kept as history."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import ContactSequence, EnrollmentRun, StepLog, Workspace
from app.services import events as event_service
from tests.helpers import tick

pytestmark = pytest.mark.local_time  # 'after 90 days' re-enrollment

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
WHO = "ada@example.com"


def definition(re_enrollment: dict) -> dict:
    return {
        "format": "sequence/v1",
        "name": f"Signup {re_enrollment['mode']}",
        "trigger": {"type": "api_event", "event": "signed_up"},
        "re_enrollment": re_enrollment,
        "steps": [
            {
                "id": "hello",
                "type": "email",
                "config": {"subject": "Hello {{ contact.email }}", "body": "<p>Welcome</p>"},
            }
        ],
        "connections": [],
    }


def start(api, re_enrollment: dict) -> str:
    created = api.post("/api/sequences", json=definition(re_enrollment))
    assert created.status_code == 201, created.json
    assert api.post(f"/api/sequences/{created.json['id']}/activate").status_code == 200
    return created.json["id"]


def trigger(api, now: datetime) -> None:
    workspace = db.session.get_one(Workspace, api.workspace_id)
    body = {"event": "signed_up", "contact": {"email": WHO}, "occurred_at": now.isoformat()}
    assert event_service.ingest_events(workspace, body, now).accepted == 1
    event_service.react_to_stored(now)  # the processor's pass enrolls through the trigger


def enrollment() -> ContactSequence:
    db.session.expire_all()
    return db.session.scalars(select(ContactSequence)).one()


def runs() -> list[tuple[int, str]]:
    rows = db.session.execute(
        select(EnrollmentRun.run, EnrollmentRun.status).order_by(EnrollmentRun.run)
    )
    return [tuple(r) for r in rows]


@pytest.mark.parametrize(
    "rule, day_1, day_91",
    [
        ({"mode": "never"}, False, False),
        ({"mode": "always"}, True, True),
        ({"mode": "after_delay", "delay": "90 days"}, False, True),
    ],
    ids=["never", "always", "after_90_days"],
)
def test_a_finished_contact_triggering_again_is_enrolled_or_refused_by_the_rule(
    app, api, smtp_sink, rule, day_1, day_91
):
    start(api, rule)
    trigger(api, T0)
    trigger(api, T0 + timedelta(minutes=1))  # again while active: never a second enrollment
    assert db.session.scalar(select(func.count()).select_from(ContactSequence)) == 1
    tick(app, T0 + timedelta(minutes=1))
    assert [str(m["Subject"]) for m in smtp_sink.messages] == [f"Hello {WHO}"]
    assert enrollment().status == "completed"

    expected_emails = 1
    for day, allowed in ((1, day_1), (91, day_91)):
        now = T0 + timedelta(days=day)
        trigger(api, now)
        current = enrollment()
        if allowed:
            expected_emails += 1
            assert current.status == "active" and current.enrolled_at == now
            assert current.enroll_reason == "event 'signed_up'"
            tick(app, now)
        else:
            assert current.status == "completed" and current.enrolled_at != now
        assert len(smtp_sink.messages) == expected_emails, f"day {day}"

    current = enrollment()
    assert current.runs == expected_emails
    assert runs() == [(n, "completed") for n in range(1, expected_emails)]
    # Every run took the email step under its own rotation: one log row each, never two.
    rotations = db.session.scalars(select(StepLog.rotation).order_by(StepLog.rotation)).all()
    assert rotations == list(range(expected_emails))
    listed = api.get(f"/api/sequences/{current.sequence_id}/enrollments").json["enrollments"]
    assert listed[0]["run"] == expected_emails
    assert [r["run"] for r in listed[0]["earlier_runs"]] == list(range(1, expected_emails))


def test_max_times_stops_always_after_the_limit(app, api, smtp_sink):
    start(api, {"mode": "always", "max_times": 2})
    for day in range(3):
        now = T0 + timedelta(days=day)
        trigger(api, now)
        tick(app, now)
    assert len(smtp_sink.messages) == 2
    assert enrollment().runs == 2 and runs() == [(1, "completed")]


def test_refusals_are_explained_to_the_api_caller(app, api, smtp_sink):
    seq_id = start(api, {"mode": "after_delay", "delay": "90 days"})
    api.post("/api/contacts", json={"email": WHO})
    body = {"contacts": [{"email": WHO}]}
    assert api.post(f"/api/sequences/{seq_id}/enroll", json=body).json["enrolled"] == 1
    again = api.post(f"/api/sequences/{seq_id}/enroll", json=body).json
    assert again["skipped_details"][0]["reason"] == "already enrolled (active)"
    tick(app, datetime.now(UTC) + timedelta(minutes=1))
    later = api.post(f"/api/sequences/{seq_id}/enroll", json=body).json
    assert later["enrolled"] == 0
    assert later["skipped_details"][0]["reason"].startswith("may re-enroll from ")
