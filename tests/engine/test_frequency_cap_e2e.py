"""A workspace's frequency cap across sequences, end to end through `tick` and a real SMTP
server: over the cap, the next email waits for the contact's next day, none is lost, and
the enrollment says why."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from app.core.frequency import allowance, parse_cap
from app.extensions import db
from app.models import ContactSequence
from app.services import accounts, contacts, enrollment, sequences
from app.services.enrollment import list_enrollments, waiting_reason
from app.services.frequency_caps import set_frequency_cap
from tests.helpers import tick

pytestmark = pytest.mark.local_time
T0 = datetime(2026, 12, 7, 14, 0, tzinfo=UTC)  # Monday 09:00 in New York


def two_emails(name: str) -> dict:
    return {
        "name": name,
        "steps": [
            {"id": "a", "type": "email", "config": {"subject": f"{name} 1", "body": "<p>1</p>"}},
            {"id": "w", "type": "delay", "config": {"duration": "1 hour"}},
            {"id": "b", "type": "email", "config": {"subject": f"{name} 2", "body": "<p>2</p>"}},
        ],
        "connections": [{"source": "a", "target": "w"}, {"source": "w", "target": "b"}],
    }


def received(sink) -> list[tuple[str, str]]:
    return [(m["To"].addresses[0].addr_spec, str(m["Subject"])) for m in sink.messages]


def test_a_cap_of_one_per_day_with_two_sequences_sends_one_email_per_contact_per_day(
    app, smtp_sink
):
    workspace = accounts.create_workspace("Capped")
    set_frequency_cap(workspace, {"per_day": 1})
    people = [
        contacts.upsert_contact(workspace, {"email": e, "timezone": "America/New_York"})[0]
        for e in ("ada@x.test", "bo@x.test")
    ]
    for name in ("Alpha", "Beta"):
        sequence = sequences.create_sequence(workspace, sequences.parse_input(two_emails(name)))
        sequences.set_status(sequence, "activate", T0)
        enrollment.enroll_contacts(sequence, people, T0)

    tick(app, T0)
    tick(app, T0 + timedelta(hours=2))
    by_person: dict[str, list[str]] = {}
    for to, subject in received(smtp_sink):
        by_person.setdefault(to, []).append(subject)
    assert {to: len(subjects) for to, subjects in by_person.items()} == {
        "ada@x.test": 1,
        "bo@x.test": 1,
    }
    held = db.session.scalars(
        select(ContactSequence).where(ContactSequence.hold_reason.is_not(None))
    ).all()
    assert len(held) == 4  # each contact's second email and other sequence: tomorrow
    assert {h.next_execution_at for h in held} == {datetime(2026, 12, 8, 5, 0, tzinfo=UTC)}
    rows = list_enrollments(workspace.id, None, 10, 0)
    reasons = {waiting_reason(r) for r in rows if r.ContactSequence.hold_reason}
    [reason] = reasons
    assert reason.startswith("held by the workspace's frequency cap (1 per day) until Tue 8 Dec")

    for day in range(1, 5):  # one a day each, until all four emails of each contact are out
        tick(app, T0 + timedelta(days=day))
        tick(app, T0 + timedelta(days=day, hours=2))
    counts: dict[str, int] = {}
    for to, _ in received(smtp_sink):
        counts[to] = counts.get(to, 0) + 1
    assert counts == {"ada@x.test": 4, "bo@x.test": 4}
    statuses = db.session.scalars(select(ContactSequence.status)).all()
    assert statuses == ["completed"] * 4


def test_a_cap_counts_the_contacts_local_day_and_week() -> None:
    from zoneinfo import ZoneInfo

    tokyo = ZoneInfo("Asia/Tokyo")
    sunday_night = datetime(2026, 12, 6, 14, 30, tzinfo=UTC)  # Sunday 23:30 in Tokyo
    monday_morning = datetime(2026, 12, 6, 15, 30, tzinfo=UTC)  # Monday 00:30 in Tokyo
    assert allowance({"per_day": 1}, [sunday_night], monday_morning, tokyo).room == 1
    held = allowance({"per_week": 2}, [sunday_night, sunday_night], sunday_night, tokyo)
    assert held.room == 0 and held.reopens_at == datetime(2026, 12, 6, 15, 0, tzinfo=UTC)
    with pytest.raises(ValueError, match=r"frequency_cap\.per_day"):
        parse_cap({"per_day": 0})
