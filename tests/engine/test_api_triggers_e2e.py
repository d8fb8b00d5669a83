"""Entry by API: an event that names an `api_event` trigger, and a manual add of contacts or
a whole segment; each contact is enrolled exactly once and gets Email 1 at a real SMTP server."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from app.extensions import db
from app.models import Contact, ContactSequence, Segment, SegmentMembership
from tests.conftest import api_for
from tests.helpers import tick


def sequence(api, name: str, trigger: dict) -> str:
    created = api.post(
        "/api/sequences",
        json={
            "format": "sequence/v1",
            "name": name,
            "trigger": trigger,
            "steps": [
                {
                    "id": "email_1",
                    "type": "email",
                    "config": {
                        "subject": "Your cart, {{ contact.first_name }}",
                        "body": "<p>Cart {{ enrollment.trigger.properties.cart_id }}</p>",
                    },
                }
            ],
            "connections": [],
        },
    )
    assert created.status_code == 201, created.json
    assert api.post(f"/api/sequences/{created.json['id']}/activate").status_code == 200
    return created.json["id"]


def enrollments(seq_id: str) -> list[ContactSequence]:
    db.session.expire_all()
    return list(
        db.session.scalars(
            select(ContactSequence).where(ContactSequence.sequence_id == uuid.UUID(seq_id))
        )
    )


def soon() -> datetime:
    return datetime.now(UTC) + timedelta(minutes=1)


def test_an_api_event_enrolls_once_with_its_event_as_context_and_sends_email_1(app, api, smtp_sink):
    trigger = {"type": "api_event", "event": "cart_abandoned", "properties": {"store": "eu"}}
    seq_id = sequence(api, "Abandoned cart", trigger)
    other = api_for(app, "Other workspace")
    elsewhere = sequence(other, "Their cart flow", trigger)
    api.post("/api/contacts", json={"email": "ada@example.com", "first_name": "Ada"})

    def send(cart: str, store: str):
        event = {
            "event": "cart_abandoned",
            "contact": {"email": "ada@example.com"},
            "properties": {"store": store, "cart_id": cart},
        }
        assert api.post("/api/events", json=event).status_code == 202

    send("c-1", "us")  # the property filter does not match: nothing happens
    tick(app, datetime.now(UTC))  # the processor's pass reacts to the events the API queued
    assert enrollments(seq_id) == []
    send("c-2", "eu")
    assert enrollments(seq_id) == []  # deferred: the request only stored the event
    send("c-3", "eu")  # a second matching event while active enrolls nobody again
    tick(app, datetime.now(UTC))
    [enrolled] = enrollments(seq_id)
    assert enrolled.enroll_reason == "event 'cart_abandoned'"
    trigger_context = enrolled.context_data["trigger"]
    assert trigger_context["event"] == "cart_abandoned"
    assert trigger_context["properties"] == {"store": "eu", "cart_id": "c-2"}
    assert enrollments(elsewhere) == []

    tick(app, soon())
    tick(app, soon() + timedelta(days=1))
    [email] = smtp_sink.messages
    assert str(email["Subject"]) == "Your cart, Ada"
    assert "Cart c-2" in email.get_body(("html",)).get_content()
    shown = api.get(f"/api/sequences/{seq_id}/enrollments").json["enrollments"][0]
    assert shown["enroll_reason"] == "event 'cart_abandoned'"
    assert shown["status"] == "completed"


def test_a_paused_sequence_takes_no_one_from_its_trigger(app, api):
    seq_id = sequence(api, "Paused", {"type": "api_event", "event": "signed_up"})
    assert api.post(f"/api/sequences/{seq_id}/pause").status_code == 200
    event = {"event": "signed_up", "contact": {"email": "bob@example.com"}}
    assert api.post("/api/events", json=event).status_code == 202
    tick(app, datetime.now(UTC))  # the pass that reacts to the queued event
    assert enrollments(seq_id) == []


def test_manual_add_by_email_and_by_segment_enrolls_each_contact_once(app, api, smtp_sink):
    seq_id = sequence(api, "Manual", {"type": "manual"})
    people = [f"p{i}@example.com" for i in range(5)]
    for email in people:
        api.post("/api/contacts", json={"email": email, "first_name": email[:2]})
    segment = Segment(
        tenant_id=db.session.scalar(select(Contact.tenant_id).limit(1)),
        workspace_id=api.workspace_id,
        name="New Signups",
        kind="static",
    )
    db.session.add(segment)
    db.session.flush()
    for contact in db.session.scalars(select(Contact).where(Contact.email.in_(people[1:]))):
        db.session.add(
            SegmentMembership(
                segment_id=segment.id,
                contact_id=contact.id,
                tenant_id=contact.tenant_id,
                workspace_id=contact.workspace_id,
            )
        )
    db.session.commit()

    by_email = api.post(
        f"/api/sequences/{seq_id}/enroll",
        json={"contacts": [{"email": people[0]}, {"email": people[1]}]},
    )
    assert by_email.json["enrolled"] == 2
    by_segment = api.post(f"/api/sequences/{seq_id}/enroll", json={"segment": "New Signups"})
    assert by_segment.status_code == 200
    assert by_segment.json["enrolled"] == 3 and by_segment.json["skipped"] == 1
    assert by_segment.json["skipped_details"][0]["reason"] == "already enrolled (active)"
    reasons = {e.enroll_reason for e in enrollments(seq_id)}
    assert reasons == {"added by API", "added by API with segment 'New Signups'"}

    tick(app, soon())
    received = sorted(m["To"].addresses[0].addr_spec for m in smtp_sink.messages)
    assert received == sorted(people)
    assert db.session.scalar(select(func.count()).select_from(ContactSequence)) == 5


def test_an_unknown_segment_is_422_naming_the_field_and_enrolls_nobody(app, api):
    seq_id = sequence(api, "Manual", {"type": "manual"})
    answer = api.post(f"/api/sequences/{seq_id}/enroll", json={"segment": "Nope"})
    assert answer.status_code == 422
    assert answer.json["error"]["field"] == "segment"
    assert enrollments(seq_id) == []
