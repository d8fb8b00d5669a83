"""A sequence with an A/B-tested first email, a holdout and paid conversions over several
days, made through the real services and tracking endpoints: for the report's browser test
and the README screenshot (docs/screenshots.py).

Sends are stamped days before the clicks and opens, so none of them looks like a machine
open or a scanner click, and the test is decided by the scheduler's own tick.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask import Flask
from sqlalchemy import select

from app.extensions import db
from app.models import ContactSequence, OutboundMessage, Workspace
from app.services import contacts, enrollment, sequences
from app.services import events as event_service
from app.services.scheduling import run_tick
from app.services.tracking import click_token, open_token

BROWSER = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126"
PAID = {
    "name": "Paid",
    "when": {"type": "custom_event", "event": "subscription_paid"},
    "action": {"type": "exit"},
}
BODY = '<p>Hi {{first_name}},</p><p><a href="https://acme.example/demo">Book a demo</a></p>'


def definition(name: str, min_sends: int, holdout: int) -> dict[str, Any]:
    """Email 1 tests two subject lines on click rate; a follow-up a week later."""
    return {
        "format": "sequence/v1",
        "name": name,
        "trigger": {"type": "manual"},
        "settings": {"holdout_percent": holdout},
        "goals": [PAID],
        "steps": [
            {
                "id": "email_1",
                "type": "email",
                "name": "Welcome email",
                "config": {
                    "subject": "Welcome aboard",
                    "body": BODY,
                    "variants": [
                        {"key": "A", "weight": 50, "subject": "Welcome aboard"},
                        {"key": "B", "weight": 50, "subject": "Your demo is one click away"},
                    ],
                    "ab_test": {"metric": "click_rate", "min_sends": min_sends},
                },
            },
            {
                "id": "wait_7d",
                "type": "delay",
                "name": "Wait 7 days",
                "config": {"duration": "7 days"},
            },
            {
                "id": "email_2",
                "type": "email",
                "name": "Follow-up",
                "config": {"subject": "Still curious?", "body": BODY},
            },
        ],
        "connections": [
            {"source": "email_1", "target": "wait_7d"},
            {"source": "wait_7d", "target": "email_2"},
        ],
    }


def pays_on(n: int, held_out: bool) -> int | None:
    """The day after enrolling on which the nth contact pays: every fifth emailed contact
    and every twelfth held-out one, spread over days 1 to 5; None: never."""
    if n % (12 if held_out else 5):
        return None
    return 1 + n // 5 % 5


@dataclass(frozen=True)
class Scenario:
    sequence_id: uuid.UUID
    start: datetime


def seed_ab_report(
    app: Flask, workspace: Workspace, now: datetime, people: int = 240, min_sends: int = 50
) -> Scenario:
    """Enroll `people` six days before `now`; B's link is clicked by 30% of its recipients
    and A's by 10%; the tick two days in decides the test; some contacts pay (`pays_on`).
    Needs an app context."""
    start = now - timedelta(days=6)
    sequence = sequences.create_sequence(
        workspace, sequences.parse_input(definition("Trial welcome (A/B)", min_sends, 20))
    )
    sequences.set_status(sequence, "activate", start)
    found = [
        contacts.upsert_contact(
            workspace, {"email": f"person{n}@example.com", "first_name": f"P{n}"}, start
        )[0]
        for n in range(people)
    ]
    enrollment.enroll_contacts(sequence, found, start)
    run_tick(start)
    client = app.test_client()
    rows = db.session.execute(
        select(OutboundMessage.id, OutboundMessage.variant_key, OutboundMessage.contact_id)
        .where(OutboundMessage.sequence_id == sequence.id)
        .order_by(OutboundMessage.queued_at, OutboundMessage.id)
    ).all()
    seen: dict[str, int] = {}
    for message_id, key, _ in rows:
        n = seen[key] = seen.get(key, 0) + 1
        if n % 10 < 5:
            client.get(f"/t/o/{open_token(message_id)}.gif", headers={"User-Agent": BROWSER})
        if n % 10 < (3 if key == "B" else 1):
            client.get(f"/t/c/{click_token(message_id, 0)}", headers={"User-Agent": BROWSER})
    run_tick(start + timedelta(days=2, minutes=1))
    held = dict(
        db.session.execute(
            select(ContactSequence.contact_id, ContactSequence.holdout).where(
                ContactSequence.sequence_id == sequence.id
            )
        ).all()
    )
    paid = [
        {
            "contact": {"id": str(person.id)},
            "event": "subscription_paid",
            "occurred_at": (start + timedelta(days=day, hours=3)).isoformat(),
        }
        for n, person in enumerate(found)
        if (day := pays_on(n, held[person.id])) is not None
    ]
    event_service.ingest_events(workspace, {"events": paid}, now)
    event_service.react_to_stored(now)  # the processor's pass converts the goals
    return Scenario(sequence.id, start)
