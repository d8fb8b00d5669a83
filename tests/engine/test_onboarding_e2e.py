"""The seed's 3-email onboarding flow, end to end through the API, `tick` and a real SMTP server."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import ContactSequence, OutboundMessage, StepLog
from tests.helpers import iso, onboarding_definition, tick

pytestmark = pytest.mark.local_time  # delays of days between the emails

PEOPLE = [
    ("ada@example.com", "Ada"),
    ("grace@example.com", "Grace"),
    ("kenji@example.com", "Kenji"),
]
SUBJECTS = ["Welcome to PenguinMails!", "3 things you can do today", "Become a pro user"]


def start_onboarding(api) -> tuple[str, object]:
    created = api.post("/api/sequences", json=onboarding_definition())
    assert created.status_code == 201, created.json
    seq_id = created.json["id"]
    assert api.post(f"/api/sequences/{seq_id}/activate").status_code == 200
    for email, name in PEOPLE:
        assert (
            api.post("/api/contacts", json={"email": email, "first_name": name}).status_code == 201
        )
    enrolled = api.post(
        f"/api/sequences/{seq_id}/enroll", json={"contacts": [{"email": e} for e, _ in PEOPLE]}
    )
    assert enrolled.json["enrolled"] == 3, enrolled.json
    rows = api.get(f"/api/sequences/{seq_id}/enrollments").json["enrollments"]
    start = max(iso(r["next_execution_at"]) for r in rows)
    return seq_id, start


def subjects_by_recipient(sink) -> dict[str, list[str]]:
    got: dict[str, list[str]] = {}
    for message in sink.messages:
        got.setdefault(str(message["To"].addresses[0].addr_spec), []).append(
            str(message["Subject"])
        )
    return got


def test_three_emails_each_at_the_first_tick_at_or_after_its_due_time(app, api, smtp_sink):
    seq_id, t0 = start_onboarding(api)

    tick(app, t0)
    assert len(smtp_sink.messages) == 3
    tick(app, t0 + timedelta(days=2) - timedelta(seconds=1))
    assert len(smtp_sink.messages) == 3, "email 2 must not leave before its 2 days"
    tick(app, t0 + timedelta(days=2))
    assert len(smtp_sink.messages) == 6
    tick(app, t0 + timedelta(days=5) - timedelta(seconds=1))
    assert len(smtp_sink.messages) == 6
    tick(app, t0 + timedelta(days=5, minutes=3))
    assert len(smtp_sink.messages) == 9

    assert subjects_by_recipient(smtp_sink) == {email: SUBJECTS for email, _ in PEOPLE}
    for message in smtp_sink.messages:
        first_name = dict(PEOPLE)[message["To"].addresses[0].addr_spec]
        html = message.get_body(("html",)).get_content()
        text = message.get_body(("plain",)).get_content()
        assert f"Hi {first_name}," in html and f"Hi {first_name}," in text
        assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert message["List-Unsubscribe"].startswith("<http://pm.test/u/")
        assert message["Message-ID"].startswith("<") and message["Message-ID"].endswith(">")
    assert len({m["Message-ID"] for m in smtp_sink.messages}) == 9

    statuses = db.session.scalars(select(ContactSequence.status)).all()
    assert statuses == ["completed"] * 3
    stored_ids = set(db.session.scalars(select(OutboundMessage.message_id)))
    assert stored_ids == {m["Message-ID"] for m in smtp_sink.messages}
    # 3 emails + 2 delays per contact, each recorded exactly once
    assert db.session.scalar(select(func.count(StepLog.id))) == 15
    rows = api.get(f"/api/sequences/{seq_id}/enrollments").json["enrollments"]
    assert {r["status"] for r in rows} == {"completed"}


def test_tick_twice_at_the_same_instant_sends_nothing_more(app, api, smtp_sink):
    _, t0 = start_onboarding(api)
    tick(app, t0)
    tick(app, t0)
    tick(app, t0 + timedelta(days=2))
    tick(app, t0 + timedelta(days=2))
    assert len(smtp_sink.messages) == 6
    assert db.session.scalar(select(func.count(OutboundMessage.id))) == 6


def test_a_tick_before_anything_is_due_does_nothing(app, api, smtp_sink):
    _, t0 = start_onboarding(api)
    output = tick(app, t0 - timedelta(minutes=1))
    assert "0 enrollment(s) advanced" in output
    assert smtp_sink.messages == []
