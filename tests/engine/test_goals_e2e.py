"""A contact waiting in a 3-day delay books a meeting: the enrollment ends at once, the
second email never goes, and the conversion counts on the delay step. Through the API,
`tick` and a real SMTP server."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import Conversion, OutboundMessage, SequenceStep
from app.services.scheduling import run_dispatcher, run_processor
from tests.helpers import iso, tick
from tests.services.test_goals import BOOKED, email, journey

pytestmark = pytest.mark.local_time  # a 3-day delay ended by a goal

WHO = "ada@example.com"


def launch(api, definition: dict[str, Any]) -> str:
    created = api.post("/api/sequences", json=definition)
    assert created.status_code == 201, created.json
    assert api.post(f"/api/sequences/{created.json['id']}/activate").status_code == 200
    return created.json["id"]


def enroll_ada(api, seq_id: str) -> tuple[str, datetime]:
    contact = api.post("/api/contacts", json={"email": WHO, "first_name": "Ada"})
    assert contact.status_code in (200, 201)
    enrolled = api.post(f"/api/sequences/{seq_id}/enroll", json={"contacts": [{"email": WHO}]})
    assert enrolled.json["enrolled"] == 1, enrolled.json
    [row] = api.get(f"/api/sequences/{seq_id}/enrollments").json["enrollments"]
    return contact.json["id"], iso(row["next_execution_at"])


def book_meeting(api, contact: str) -> None:
    patched = api.patch(
        f"/api/contacts/{contact}", json={"fields": {"deal_stage": "Meeting Booked"}}
    )
    assert patched.status_code == 200, patched.json


def the_enrollment(api, seq_id: str) -> dict[str, Any]:
    [row] = api.get(f"/api/sequences/{seq_id}/enrollments").json["enrollments"]
    return row


def subjects(sink) -> list[str]:
    return [str(message["Subject"]) for message in sink.messages]


def delay_step(seq_id: str) -> uuid.UUID:
    return db.session.scalar(
        select(SequenceStep.id).where(
            SequenceStep.sequence_id == uuid.UUID(seq_id), SequenceStep.key == "wait_3d"
        )
    )


def test_booking_a_meeting_during_the_delay_exits_and_counts_on_the_delay(app, api, smtp_sink):
    seq_id = launch(api, journey("Sales Follow-up", [BOOKED]))
    contact, t0 = enroll_ada(api, seq_id)
    tick(app, t0)
    assert subjects(smtp_sink) == ["Sales Follow-up 1"]
    assert the_enrollment(api, seq_id)["current_step"] == "wait_3d"

    book_meeting(api, contact)

    row = the_enrollment(api, seq_id)
    assert row["status"] == "exited"
    assert row["exit_reason"] == "goal 'Booked Meeting' reached"
    assert row["next_execution_at"] is None and row["finished_at"] is not None
    [conversion] = db.session.scalars(select(Conversion)).all()
    assert (conversion.goal, conversion.source) == ("Booked Meeting", "event")
    assert conversion.step_id == delay_step(seq_id)

    tick(app, t0 + timedelta(days=3, minutes=1))
    tick(app, t0 + timedelta(days=10))
    assert subjects(smtp_sink) == ["Sales Follow-up 1"]

    stats = api.get(f"/api/sequences/{seq_id}/analytics").json
    by_step = {s["step"]: s for s in stats["steps"]}
    assert [by_step[key]["conversions"] for key in ("email_1", "wait_3d", "email_2")] == [0, 1, 0]
    assert stats["conversions"] == {
        "total": 1,
        "goals": {"Booked Meeting": {"total": 1, "steps": {"wait_3d": 1}}},
        "by_day": [
            {
                "day": conversion.converted_at.date().isoformat(),
                "total": 1,
                "goals": {"Booked Meeting": 1},
            }
        ],
    }
    assert stats["enrollments"]["exited"] == 1


def test_booking_a_meeting_moves_the_contact_to_pre_meeting_prep(app, api, smtp_sink):
    prep = journey("Pre-meeting Prep", [])
    prep["steps"], prep["connections"] = [email("prep", "Your meeting prep")], []
    prep_id = launch(api, prep)
    moving = {**BOOKED, "action": {"type": "move_to_sequence", "sequence": "Pre-meeting Prep"}}
    seq_id = launch(api, journey("Sales Follow-up", [moving], exit_goals=["Booked Meeting"]))
    contact, t0 = enroll_ada(api, seq_id)
    tick(app, t0)

    book_meeting(api, contact)

    row = the_enrollment(api, seq_id)
    assert row["status"] == "exited"
    assert row["exit_reason"] == (
        "goal 'Booked Meeting' reached; moved to sequence 'Pre-meeting Prep'"
    )
    moved = the_enrollment(api, prep_id)
    assert moved["enroll_reason"] == "goal 'Booked Meeting' in Sales Follow-up"
    tick(app, datetime.now(UTC))
    assert subjects(smtp_sink) == ["Sales Follow-up 1", "Your meeting prep"]
    tick(app, t0 + timedelta(days=3, minutes=1))
    assert subjects(smtp_sink) == ["Sales Follow-up 1", "Your meeting prep"]
    stats = api.get(f"/api/sequences/{seq_id}/analytics").json
    assert stats["conversions"]["goals"]["Booked Meeting"]["steps"] == {"wait_3d": 1}


def test_mail_queued_before_the_goal_is_skipped_not_sent(app, api, smtp_sink):
    seq_id = launch(api, journey("Sales Follow-up", [BOOKED]))
    contact, t0 = enroll_ada(api, seq_id)
    run_processor(t0)  # Email 1 queued, not yet sent
    book_meeting(api, contact)

    run_dispatcher(datetime.now(UTC))

    assert smtp_sink.messages == []
    [message] = db.session.scalars(select(OutboundMessage)).all()
    assert message.status == "skipped" and message.sent_at is None
    assert message.last_error == (
        "the enrollment exited before it was sent: goal 'Booked Meeting' reached"
    )


def test_an_email_right_before_an_exit_step_still_goes(app, api, smtp_sink):
    definition = journey("Short", [])
    definition["steps"] = [
        email("last", "Last words"),
        {"id": "stop", "type": "action", "config": {"action": "exit"}},
    ]
    definition["connections"] = [{"source": "last", "target": "stop"}]
    seq_id = launch(api, definition)
    _, t0 = enroll_ada(api, seq_id)

    tick(app, t0)

    assert the_enrollment(api, seq_id)["status"] == "exited"
    assert subjects(smtp_sink) == ["Last words"]
