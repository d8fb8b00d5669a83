"""A sending domain's daily cap and spacing, end to end through the dispatcher and a real
SMTP server: a cap of 100 a day with 250 contacts due sends 100 that day and the rest on the
next days, none lost; spacing spreads a day's sends instead of a burst."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import Contact, OutboundMessage, SendingDomain
from app.services import accounts, enrollment, sequences
from app.services.dispatcher import dispatch_due
from app.services.processor import process_due
from app.services.secret_box import seal

pytestmark = pytest.mark.local_time
T0 = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
PEOPLE = 250


def launch(people: int, cap: int | None, spacing: int | None) -> None:
    workspace = accounts.create_workspace("Warm-up")
    db.session.add(
        SendingDomain(
            tenant_id=workspace.tenant_id,
            workspace_id=workspace.id,
            domain="warm.test",
            selector="pm1",
            sealed_private_key=seal("unused here"),
            public_key="unused",
            daily_cap=cap,
            min_spacing_seconds=spacing,
        )
    )
    definition = {
        "name": "Warm-up",
        "settings": {"from_email": "hello@warm.test"},
        "steps": [{"id": "one", "type": "email", "config": {"subject": "Hi", "body": "<p>Hi</p>"}}],
        "connections": [],
    }
    sequence = sequences.create_sequence(workspace, sequences.parse_input(definition))
    sequences.set_status(sequence, "activate", T0)
    people = [
        Contact(tenant_id=workspace.tenant_id, workspace_id=workspace.id, email=f"p{n}@x.test")
        for n in range(people)
    ]
    db.session.add_all(people)
    db.session.commit()
    enrollment.enroll_contacts(sequence, people, T0)


def sent_per_day() -> Counter:
    days = db.session.scalars(
        select(OutboundMessage.sent_at).where(OutboundMessage.status == "sent")
    ).all()
    return Counter(moment.date().isoformat() for moment in days)


def drain(until: datetime) -> int:
    """Run the dispatcher at each instant a message is next due, as the schedule would."""
    passes = 0
    while True:
        due = db.session.scalar(
            select(func.min(OutboundMessage.next_attempt_at)).where(
                OutboundMessage.status == "queued"
            )
        )
        if due is None or due > until:
            return passes
        dispatch_due(max(due, T0))
        passes += 1


def test_a_cap_of_100_a_day_with_250_due_sends_100_that_day_and_the_rest_on_the_next_days(
    app, smtp_sink
):
    launch(PEOPLE, cap=100, spacing=None)
    process_due(T0)
    drain(T0 + timedelta(days=4))
    assert len(smtp_sink.messages) == PEOPLE
    assert sent_per_day() == {"2026-12-07": 100, "2026-12-08": 100, "2026-12-09": 50}
    assert db.session.scalar(select(func.count()).select_from(OutboundMessage)) == PEOPLE
    assert len({m["To"].addresses[0].addr_spec for m in smtp_sink.messages}) == PEOPLE


def test_spacing_spreads_a_days_sends_instead_of_a_burst(app, smtp_sink):
    launch(12, cap=5, spacing=240)
    process_due(T0)
    dispatch_due(T0)  # one goes; the others get the next free slots
    held = set(db.session.scalars(select(OutboundMessage.last_error)))
    assert held == {
        None,  # the one sent
        "warm.test sends one email every 240 s at most",  # today's next 4 slots
        "warm.test sends 5 emails a day at most",  # tomorrow's and the day after's
    }
    drain(T0 + timedelta(days=4))
    sent = sorted(db.session.scalars(select(OutboundMessage.sent_at)))
    first_day = [moment for moment in sent if moment.date() == T0.date()]
    assert first_day == [T0 + timedelta(minutes=4 * n) for n in range(5)]
    assert sent_per_day() == {"2026-12-07": 5, "2026-12-08": 5, "2026-12-09": 2}
    assert len(smtp_sink.messages) == 12
