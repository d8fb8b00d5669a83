"""wait_until end to end: events through the events API end the wait at the next tick, no
event takes the timeout path when it is due, and correlated waits only accept their own cart."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import ContactSequence, StepLog, Workspace
from app.services import contacts, enrollment, sequences
from tests.helpers import THE_DAY_WRITTEN_FOR, tick

# wait timeouts fall due at instants
pytestmark = [pytest.mark.local_time, pytest.mark.wall_clock(THE_DAY_WRITTEN_FOR)]

MONDAY = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)


def email(step_id: str, subject: str) -> dict[str, Any]:
    return {"id": step_id, "type": "email", "config": {"subject": subject, "body": "<p>.</p>"}}


def waiting_definition(condition: dict[str, Any], first: str = "Welcome") -> dict[str, Any]:
    return {
        "format": "sequence/v1",
        "name": f"Wait for {condition['event']}",
        "trigger": {"type": "manual"},
        "steps": [
            email("first", first),
            {"id": "wait", "type": "wait_until", "config": {"conditions": [condition]}},
            email("met", "Met"),
            email("timed_out", "Timed out"),
        ],
        "connections": [
            {"source": "first", "target": "wait"},
            {"source": "wait", "target": "met", "label": "met"},
            {"source": "wait", "target": "timed_out", "label": "timeout"},
        ],
    }


def start(
    api, definition: dict[str, Any], people: list[str], context=None, at: datetime = MONDAY
) -> None:
    """Create and activate through the API, enroll at a given instant through the service."""
    created = api.post("/api/sequences", json=definition)
    assert created.status_code == 201, created.json
    assert api.post(f"/api/sequences/{created.json['id']}/activate").status_code == 200
    workspace = db.session.get(Workspace, api.workspace_id)
    sequence = sequences.get_sequence(workspace.id, uuid.UUID(created.json["id"]))
    found = [contacts.upsert_contact(workspace, {"email": person})[0] for person in people]
    enrollment.enroll_contacts(sequence, found, at, context=context)


def subjects(sink) -> dict[str, list[str]]:
    got: dict[str, list[str]] = {}
    for message in sink.messages:
        got.setdefault(message["To"].addresses[0].addr_spec, []).append(str(message["Subject"]))
    return got


def send_event(api, who: str, name: str, at: datetime, **properties: Any) -> None:
    body = {"contact": {"email": who}, "event": name, "occurred_at": at.isoformat()}
    if properties:
        body["properties"] = properties
    response = api.post("/api/events", json=body)
    assert response.status_code == 202, response.json


def test_a_login_on_day_2_takes_the_met_path_and_silence_times_out_on_day_7(app, api, smtp_sink):
    login = waiting_definition({"event": "user_login", "timeout": "7 days"})
    start(api, login, ["a@x.test", "b@x.test"])
    tick(app, MONDAY)
    assert subjects(smtp_sink) == {"a@x.test": ["Welcome"], "b@x.test": ["Welcome"]}

    day_2 = MONDAY + timedelta(days=2)
    send_event(api, "a@x.test", "user_login", day_2)
    tick(app, day_2 + timedelta(seconds=5))
    assert subjects(smtp_sink)["a@x.test"] == ["Welcome", "Met"]
    assert subjects(smtp_sink)["b@x.test"] == ["Welcome"]

    tick(app, MONDAY + timedelta(days=7) - timedelta(seconds=1))
    assert subjects(smtp_sink)["b@x.test"] == ["Welcome"]
    tick(app, MONDAY + timedelta(days=7))
    assert subjects(smtp_sink) == {
        "a@x.test": ["Welcome", "Met"],
        "b@x.test": ["Welcome", "Timed out"],
    }
    outcomes = set(db.session.scalars(select(StepLog.outcome)))
    assert {"met", "timed_out"} <= outcomes


def test_an_event_from_before_the_wait_does_not_count(app, api, smtp_sink):
    start(api, waiting_definition({"event": "user_login", "timeout": "7 days"}), ["early@x.test"])
    send_event(api, "early@x.test", "user_login", MONDAY - timedelta(hours=1))
    tick(app, MONDAY)
    tick(app, MONDAY + timedelta(days=1))
    assert subjects(smtp_sink) == {"early@x.test": ["Welcome"]}


def test_the_abandoned_cart_waits_for_its_own_checkout(app, api, smtp_sink):
    condition = {
        "event": "checkout",
        "match": {"cart_id": "{{ enrollment.trigger.properties.cart_id }}"},
        "timeout": "1 day",
    }
    context = {"trigger": {"event": "cart_abandoned", "properties": {"cart_id": "cart-1"}}}
    start(api, waiting_definition(condition, "You left something"), ["shopper@x.test"], context)
    tick(app, MONDAY)

    send_event(api, "shopper@x.test", "checkout", MONDAY + timedelta(hours=1), cart_id="cart-2")
    tick(app, MONDAY + timedelta(hours=1, seconds=5))
    assert subjects(smtp_sink) == {"shopper@x.test": ["You left something"]}
    enrollment_row = db.session.scalar(select(ContactSequence))
    db.session.refresh(enrollment_row)
    assert enrollment_row.status == "active"

    send_event(api, "shopper@x.test", "checkout", MONDAY + timedelta(hours=2), cart_id="cart-1")
    tick(app, MONDAY + timedelta(hours=2, seconds=5))
    assert subjects(smtp_sink) == {"shopper@x.test": ["You left something", "Met"]}
    tick(app, MONDAY + timedelta(days=2))
    assert len(smtp_sink.messages) == 2


def test_a_field_change_ends_a_field_wait(app, api, smtp_sink):
    """PATCH records the change as it happens, so this wait runs on the real clock."""
    definition = waiting_definition({"event": "x", "timeout": "1 day"})
    definition["steps"][1]["config"]["conditions"] = [
        {"field": "company_size", "timeout": "3 days"}
    ]
    now = datetime.now(UTC) - timedelta(minutes=1)
    start(api, definition, ["lead@x.test"], at=now)
    tick(app, now)
    contact = contacts.contacts_by_email(api.workspace_id, ["lead@x.test"])["lead@x.test"]
    unrelated = api.patch(f"/api/contacts/{contact.id}", json={"fields": {"plan": "pro"}})
    assert unrelated.status_code == 200, unrelated.json
    tick(app, datetime.now(UTC))
    assert subjects(smtp_sink)["lead@x.test"] == ["Welcome"]
    patched = api.patch(f"/api/contacts/{contact.id}", json={"fields": {"company_size": 250}})
    assert patched.status_code == 200, patched.json
    tick(app, datetime.now(UTC))
    assert subjects(smtp_sink)["lead@x.test"] == ["Welcome", "Met"]
