"""The seed's Step 3 settings end to end: wait 2 days, then send only on weekdays 9 to 5 in
the recipient's time zone. Real SMTP, real ticks, contacts in New York and Tokyo."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import OutboundMessage, Workspace
from app.services import accounts, contacts, enrollment, sequences
from app.services.scheduling import run_dispatcher, run_processor
from tests.helpers import tick
from tests.web.client import Web

pytestmark = pytest.mark.local_time  # weekday 9-to-5 windows in the recipient's zone

FRIDAY_EVENING = datetime(2026, 12, 4, 22, 0, tzinfo=UTC)
TOKYO_MONDAY_9 = datetime(2026, 12, 7, 0, 0, tzinfo=UTC)  # 09:00 JST
NEW_YORK_MONDAY_9 = datetime(2026, 12, 7, 14, 0, tzinfo=UTC)  # 09:00 EST

STEP_3 = {
    "format": "sequence/v1",
    "name": "Onboarding with business hours",
    "trigger": {"type": "manual"},
    "steps": [
        {"id": "email_1", "type": "email", "config": {"subject": "Welcome", "body": "<p>Hi</p>"}},
        {
            "id": "wait",
            "type": "delay",
            "config": {
                "duration": "2 days",
                "window": {
                    "weekdays": ["mon", "tue", "wed", "thu", "fri"],
                    "start": "09:00",
                    "end": "17:00",
                    "timezone": "recipient",
                },
                "if_window_missed": "next_window",
            },
        },
        {"id": "email_2", "type": "email", "config": {"subject": "Day 3", "body": "<p>Tips</p>"}},
    ],
    "connections": [
        {"source": "email_1", "target": "wait"},
        {"source": "wait", "target": "email_2"},
    ],
}


def received(sink) -> dict[str, list[str]]:
    got: dict[str, list[str]] = {}
    for message in sink.messages:
        got.setdefault(message["To"].addresses[0].addr_spec, []).append(str(message["Subject"]))
    return got


def enrolled_on_friday_evening(workspace: Workspace, people: dict[str, str | None]) -> Any:
    """The Step 3 sequence, active, with these contacts (email: time zone) enrolled."""
    sequence = sequences.create_sequence(workspace, sequences.parse_input(STEP_3))
    sequences.set_status(sequence, "activate", FRIDAY_EVENING)
    found = [
        contacts.upsert_contact(workspace, {"email": email, "timezone": zone})[0]
        for email, zone in people.items()
    ]
    enrollment.enroll_contacts(sequence, found, FRIDAY_EVENING)
    return sequence


def test_email_2_arrives_monday_9_local_in_new_york_and_tokyo(app, smtp_sink):
    workspace = accounts.create_workspace("Global Co")
    enrolled_on_friday_evening(
        workspace, {"ny@example.com": "America/New_York", "tk@example.com": "Asia/Tokyo"}
    )

    tick(app, FRIDAY_EVENING)
    assert received(smtp_sink) == {"ny@example.com": ["Welcome"], "tk@example.com": ["Welcome"]}

    tick(app, TOKYO_MONDAY_9 - timedelta(seconds=1))  # 2 days passed, but it is Sunday night
    assert len(smtp_sink.messages) == 2
    tick(app, TOKYO_MONDAY_9)
    assert received(smtp_sink)["tk@example.com"] == ["Welcome", "Day 3"]
    assert received(smtp_sink)["ny@example.com"] == ["Welcome"]

    tick(app, NEW_YORK_MONDAY_9 - timedelta(seconds=1))
    assert len(smtp_sink.messages) == 3
    tick(app, NEW_YORK_MONDAY_9 + timedelta(seconds=30))  # the first tick at or after 09:00
    assert received(smtp_sink)["ny@example.com"] == ["Welcome", "Day 3"]
    assert len(smtp_sink.messages) == 4


def test_a_backlog_that_misses_the_window_waits_for_the_next_one(app, smtp_sink):
    """The processor was down all Monday: at 18:00 the window has closed, so Tuesday 09:00."""
    workspace = accounts.create_workspace("Late Co")
    enrolled_on_friday_evening(workspace, {"late@example.com": "America/New_York"})
    tick(app, FRIDAY_EVENING)

    monday_18_local = datetime(2026, 12, 7, 23, 0, tzinfo=UTC)
    tick(app, monday_18_local)
    assert len(smtp_sink.messages) == 1
    tick(app, datetime(2026, 12, 8, 14, 0, tzinfo=UTC))  # Tuesday 09:00 New York
    assert received(smtp_sink)["late@example.com"] == ["Welcome", "Day 3"]


def test_a_batch_in_flight_when_the_window_closes_waits_for_the_next_window(app, smtp_sink):
    """Queued at 16:59:59 in New York, dispatched at 17:00:01: it goes Tuesday 09:00."""
    workspace = accounts.create_workspace("Edge Co")
    enrolled_on_friday_evening(workspace, {"edge@example.com": "America/New_York"})
    tick(app, FRIDAY_EVENING)

    just_before_close = datetime(2026, 12, 7, 21, 59, 59, tzinfo=UTC)  # Mon 16:59:59 New York
    run_processor(just_before_close)
    stats = run_dispatcher(just_before_close + timedelta(seconds=2))
    assert stats.deferred == 1 and len(smtp_sink.messages) == 1
    message = db.session.scalar(select(OutboundMessage).where(OutboundMessage.attempts == 0))
    assert message.status == "queued"
    assert message.next_attempt_at == datetime(2026, 12, 8, 14, 0, tzinfo=UTC)  # Tue 09:00

    tick(app, datetime(2026, 12, 8, 13, 59, tzinfo=UTC))
    assert len(smtp_sink.messages) == 1
    tick(app, datetime(2026, 12, 8, 14, 0, tzinfo=UTC))
    assert received(smtp_sink)["edge@example.com"] == ["Welcome", "Day 3"]


def test_waiting_enrollments_say_why_and_until_when(app, api):
    workspace = db.session.get(Workspace, api.workspace_id)
    sequence = sequences.create_sequence(workspace, sequences.parse_input(STEP_3))
    sequences.set_status(sequence, "activate", FRIDAY_EVENING)
    new_york = {"email": "ny@example.com", "timezone": "America/New_York"}
    ny = contacts.upsert_contact(workspace, new_york)[0]
    typo = contacts.upsert_contact(workspace, {"email": "typo@example.com"})[0]
    typo.timezone = "America/New_Yrok"  # as an old import might have stored it
    db.session.commit()
    enrollment.enroll_contacts(sequence, [ny, typo], FRIDAY_EVENING)
    tick(app, FRIDAY_EVENING)

    rows = api.get(f"/api/sequences/{sequence.id}/enrollments").json["enrollments"]
    waiting = {row["email"]: row["waiting"] for row in rows}
    assert waiting["ny@example.com"] == (
        "waiting for the weekday window: Mon 7 Dec 09:00 America/New_York, 14:00 UTC"
    )
    assert waiting["typo@example.com"].startswith("waiting for the weekday window: Mon 7 Dec 09:00")
    assert "time zone 'America/New_Yrok' is not valid; used UTC" in waiting["typo@example.com"]

    accounts.create_user("ops@example.com", workspace, "correct-horse-battery")
    web = Web(app)
    web.sign_in("ops@example.com", "correct-horse-battery")
    page = web.get("/enrollments").text
    assert "waiting for the weekday window: Mon 7 Dec 09:00 America/New_York, 14:00 UTC" in page
