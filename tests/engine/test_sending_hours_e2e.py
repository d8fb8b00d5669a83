"""Sending hours and business days end to end, through `tick` and a real SMTP server."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from app.services import accounts, contacts, enrollment, sequences
from tests.engine.test_gallery_e2e import Due, run_schedule, start, utc

pytestmark = pytest.mark.local_time


def test_cold_outreach_enrolled_on_a_saturday_sends_email_1_on_monday_9_in_each_zone(
    app, smtp_sink
):
    saturday = utc(2027, 1, 16, 12, 0)  # Saturday: 04:00 in Los Angeles, 21:00 in Tokyo
    la, tokyo = "la@prospect.test", "tyo@prospect.test"
    start(
        "cold_outreach",
        [
            {"email": la, "first_name": "Maya", "timezone": "America/Los_Angeles"},
            {"email": tokyo, "first_name": "Ken", "timezone": "Asia/Tokyo"},
        ],
        saturday,
    )
    first = [
        Due(tokyo, "Value Prop", utc(2027, 1, 18, 0, 0)),  # Monday 09:00 JST
        Due(la, "Value Prop", utc(2027, 1, 18, 17, 0)),  # Monday 09:00 PST
    ]
    sunday_9_tokyo, sunday_9_la = utc(2027, 1, 17, 0, 0), utc(2027, 1, 17, 17, 0)
    run_schedule(app, smtp_sink, first, quiet=[saturday, sunday_9_tokyo, sunday_9_la])


def test_three_business_days_after_friday_10_is_wednesday_10(app, smtp_sink):
    workspace = accounts.create_workspace("Business days")
    definition = {
        "name": "Business days",
        "steps": [
            {
                "id": "one",
                "type": "email",
                "name": "One",
                "config": {"subject": "1", "body": "<p>1</p>"},
            },
            {"id": "wait", "type": "delay", "config": {"duration": "3 business days"}},
            {
                "id": "two",
                "type": "email",
                "name": "Two",
                "config": {"subject": "2", "body": "<p>2</p>"},
            },
        ],
        "connections": [{"source": "one", "target": "wait"}, {"source": "wait", "target": "two"}],
    }
    sequence = sequences.create_sequence(workspace, sequences.parse_input(definition))
    friday = datetime(2026, 12, 4, 15, 0, tzinfo=UTC)  # Friday 10:00 in New York
    sequences.set_status(sequence, "activate", friday)
    person, _ = contacts.upsert_contact(
        workspace, {"email": "ny@x.test", "first_name": "Ny", "timezone": "America/New_York"}
    )
    enrollment.enroll_contacts(sequence, [person], friday)
    wednesday = friday + timedelta(days=5)  # Wednesday 10:00 in New York
    schedule = [Due("ny@x.test", "One", friday), Due("ny@x.test", "Two", wednesday)]
    run_schedule(app, smtp_sink, schedule, quiet=[friday + timedelta(days=3)])
