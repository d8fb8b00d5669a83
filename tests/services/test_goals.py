"""Goals: the immediate check on events and the periodic monitor record a conversion once
per enrollment run, at the step the contact was on, and run the goal's action."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, update

from app.extensions import db
from app.models import (
    Contact,
    ContactEvent,
    ContactSequence,
    Conversion,
    OutboundMessage,
    SequenceStep,
)
from app.services import goals
from tests.conftest import api_for
from tests.helpers import tick

BOOKED = {
    "name": "Booked Meeting",
    "when": {"type": "field_change", "field": "deal_stage", "equals": "Meeting Booked"},
    "action": {"type": "exit"},
}
PRICING = {
    "name": "Saw Pricing",
    "when": {"type": "url_visit", "url_contains": "/pricing"},
    "action": {"type": "exit"},
}
PAID = {
    "name": "Paid",
    "when": {"type": "custom_event", "event": "subscription_paid"},
    "action": {"type": "exit"},
}


def email(step_id: str, subject: str) -> dict[str, Any]:
    return {"id": step_id, "type": "email", "config": {"subject": subject, "body": "<p>.</p>"}}


def journey(
    name: str, goal_list: list[dict[str, Any]], exit_goals: list[str] | None = None
) -> dict[str, Any]:
    """Email 1 -> 3-day delay -> Email 2, with these goals."""
    return {
        "format": "sequence/v1",
        "name": name,
        "trigger": {"type": "manual"},
        "exit": {"on_reply": False, "goals": exit_goals or []},
        "goals": goal_list,
        "steps": [
            email("email_1", f"{name} 1"),
            {"id": "wait_3d", "type": "delay", "config": {"duration": "3 days"}},
            email("email_2", f"{name} 2"),
        ],
        "connections": [
            {"source": "email_1", "target": "wait_3d"},
            {"source": "wait_3d", "target": "email_2"},
        ],
    }


def launch(api, definition: dict[str, Any], emails: list[str]) -> uuid.UUID:
    created = api.post("/api/sequences", json=definition)
    assert created.status_code == 201, created.json
    seq_id = created.json["id"]
    assert api.post(f"/api/sequences/{seq_id}/activate").status_code == 200
    for address in emails:
        assert api.post("/api/contacts", json={"email": address}).status_code in (200, 201)
    body = {"contacts": [{"email": address} for address in emails]}
    enrolled = api.post(f"/api/sequences/{seq_id}/enroll", json=body)
    assert enrolled.json["enrolled"] == len(emails), enrolled.json
    return uuid.UUID(seq_id)


def contact_id(address: str, workspace_id: uuid.UUID) -> uuid.UUID:
    return db.session.scalar(
        select(Contact.id).where(Contact.email == address, Contact.workspace_id == workspace_id)
    )


def enrollment(seq_id: uuid.UUID, address: str) -> ContactSequence:
    db.session.expire_all()
    return db.session.scalar(
        select(ContactSequence)
        .join(Contact, Contact.id == ContactSequence.contact_id)
        .where(ContactSequence.sequence_id == seq_id, Contact.email == address)
    )


def conversions() -> list[Conversion]:
    db.session.expire_all()
    return list(db.session.scalars(select(Conversion).order_by(Conversion.id)))


def step_uuid(seq_id: uuid.UUID, key: str) -> uuid.UUID:
    return db.session.scalar(
        select(SequenceStep.id).where(SequenceStep.sequence_id == seq_id, SequenceStep.key == key)
    )


def event(
    who: uuid.UUID, kind: str, at: datetime, event_id: int | None = None, **props: Any
) -> dict[str, Any]:
    return {
        "id": event_id,
        "contact_id": who,
        "type": kind,
        "properties": props,
        "occurred_at": at,
        "source": "api",
        "enrollment_id": None,
    }


def started(api, definition: dict[str, Any], who: str = "ada@example.com") -> tuple:
    """The sequence launched for one contact who got Email 1 and waits in the delay."""
    seq_id = launch(api, definition, [who])
    now = enrollment(seq_id, who).enrolled_at
    tick(api.client.application, now)
    assert enrollment(seq_id, who).current_step_id == step_uuid(seq_id, "wait_3d")
    return seq_id, contact_id(who, api.workspace_id), now


MATCHING = {
    "field_change": (
        "field_changed",
        {"field": "deal_stage", "from": None, "to": "Meeting Booked"},
    ),
    "url_visit": ("page_viewed", {"url": "https://acme.example/pricing?plan=pro"}),
    "custom_event": ("subscription_paid", {"plan": "pro"}),
}


@pytest.mark.parametrize("when", sorted(MATCHING))
def test_each_kind_of_goal_converts_on_its_event_and_exits(api, when):
    seq_id, who, now = started(api, journey("Sales", [BOOKED, PRICING, PAID]))
    kind, props = MATCHING[when]
    later = now + timedelta(hours=1)

    assert goals.check_events(api.workspace_id, [event(who, kind, later, 42, **props)], later) == 1

    name = {"field_change": "Booked Meeting", "url_visit": "Saw Pricing"}.get(when, "Paid")
    [conversion] = conversions()
    assert (conversion.goal, conversion.source, conversion.event_id) == (name, "event", 42)
    assert conversion.step_id == step_uuid(seq_id, "wait_3d")
    assert (conversion.run, conversion.converted_at) == (1, later)
    done = enrollment(seq_id, "ada@example.com")
    assert done.status == "exited" and done.exit_reason == f"goal '{name}' reached"
    assert done.finished_at == later and done.next_execution_at is None


def test_a_tracked_click_converts_a_url_goal_and_a_bot_click_does_not(api):
    seq_id, who, now = started(api, journey("Sales", [PRICING]))
    url = "https://acme.example/pricing"
    assert goals.check_events(api.workspace_id, [event(who, "bot_click", now, url=url)], now) == 0
    assert enrollment(seq_id, "ada@example.com").status == "active"
    assert goals.check_events(api.workspace_id, [event(who, "clicked_link", now, url=url)], now)
    assert enrollment(seq_id, "ada@example.com").status == "exited"


def test_the_events_api_converts_in_the_next_processor_pass_before_any_step(api):
    """The request stores the event and queues its reactions; the processor's next pass
    (here a tick) converts the goal first, so the contact exits before advancing."""
    seq_id, _, _ = started(api, journey("Sales", [PAID]))
    sent = api.post(
        "/api/events", json={"contact": {"email": "ada@example.com"}, "event": "subscription_paid"}
    )
    assert sent.status_code == 202, sent.json
    stored = db.session.scalar(
        select(ContactEvent.id).where(ContactEvent.type == "subscription_paid")
    )
    assert conversions() == []  # deferred: not in the request
    tick(api.client.application, datetime.now(UTC))
    [conversion] = conversions()
    assert conversion.event_id == stored
    assert enrollment(seq_id, "ada@example.com").status == "exited"


def test_an_event_before_the_enrollment_does_not_convert(api):
    seq_id, who, now = started(api, journey("Sales", [PAID]))
    before = now - timedelta(seconds=1)
    assert goals.check_events(api.workspace_id, [event(who, "subscription_paid", before)], now) == 0
    db.session.add(
        ContactEvent(
            tenant_id=enrollment(seq_id, "ada@example.com").tenant_id,
            workspace_id=api.workspace_id,
            contact_id=who,
            type="subscription_paid",
            properties={},
            occurred_at=before,
            recorded_at=before,
            source="api",
        )
    )
    db.session.commit()
    assert goals.monitor(now + timedelta(minutes=1)) == 0
    assert conversions() == []
    assert enrollment(seq_id, "ada@example.com").status == "active"


def test_a_second_matching_event_records_nothing_more(api):
    _seq_id, who, now = started(api, journey("Sales", [PAID]))
    paid = [event(who, "subscription_paid", now, 1), event(who, "subscription_paid", now, 2)]
    assert goals.check_events(api.workspace_id, paid, now) == 1
    assert goals.check_events(api.workspace_id, paid, now) == 0
    assert goals.monitor(now) == 0
    assert [c.event_id for c in conversions()] == [1]


def test_recording_the_same_conversion_twice_is_ignored(api):
    seq_id, who, now = started(api, journey("Sales", [PAID]))
    row = enrollment(seq_id, "ada@example.com")
    conversion = {
        "tenant_id": row.tenant_id,
        "workspace_id": row.workspace_id,
        "enrollment_id": row.id,
        "sequence_id": seq_id,
        "contact_id": who,
        "run": 1,
        "goal": "Paid",
        "step_id": None,
        "source": "event",
        "event_id": None,
        "converted_at": now,
    }
    assert goals.record_conversions([conversion, dict(conversion)]) == 1
    assert goals.record_conversions([conversion]) == 0
    db.session.commit()
    assert len(conversions()) == 1


def test_a_paused_sequence_still_converts_and_its_enrollment_exits(api):
    seq_id, who, now = started(api, journey("Sales", [PAID]))
    assert api.post(f"/api/sequences/{seq_id}/pause").status_code == 200

    assert goals.check_events(api.workspace_id, [event(who, "subscription_paid", now)], now) == 1
    assert enrollment(seq_id, "ada@example.com").status == "exited"


def test_a_paused_enrollment_converts(api):
    seq_id, who, now = started(api, journey("Sales", [PAID]))
    db.session.execute(update(ContactSequence).values(status="paused"))
    db.session.commit()

    assert goals.check_events(api.workspace_id, [event(who, "subscription_paid", now)], now) == 1
    assert enrollment(seq_id, "ada@example.com").status == "exited"


def test_finished_enrollments_do_not_convert(api):
    _seq_id, who, now = started(api, journey("Sales", [PAID]))
    db.session.execute(update(ContactSequence).values(status="completed"))
    db.session.commit()
    assert goals.check_events(api.workspace_id, [event(who, "subscription_paid", now)], now) == 0
    assert conversions() == []


def test_move_to_sequence_exits_and_enrolls_in_the_target(api):
    prep_id = launch(api, journey("Pre-meeting Prep", []), [])
    moving = {**BOOKED, "action": {"type": "move_to_sequence", "sequence": "Pre-meeting Prep"}}
    seq_id, who, now = started(api, journey("Sales", [moving]))
    changed = event(who, "field_changed", now, field="deal_stage", to="Meeting Booked")

    assert goals.check_events(api.workspace_id, [changed], now) == 1

    done = enrollment(seq_id, "ada@example.com")
    assert done.status == "exited"
    assert done.exit_reason == (
        "goal 'Booked Meeting' reached; moved to sequence 'Pre-meeting Prep'"
    )
    moved = enrollment(prep_id, "ada@example.com")
    assert moved.status == "active"
    assert moved.enroll_reason == "goal 'Booked Meeting' in Sales"


def test_the_monitor_catches_a_field_set_without_an_event(api):
    seq_id, who, now = started(api, journey("Sales", [BOOKED]))
    db.session.execute(
        update(Contact).where(Contact.id == who).values(fields={"deal_stage": "Meeting Booked"})
    )
    db.session.commit()
    assert enrollment(seq_id, "ada@example.com").status == "active"

    assert goals.monitor(now + timedelta(seconds=30)) == 1

    [conversion] = conversions()
    assert (conversion.source, conversion.event_id) == ("monitor", None)
    assert conversion.step_id == step_uuid(seq_id, "wait_3d")
    assert enrollment(seq_id, "ada@example.com").exit_reason == "goal 'Booked Meeting' reached"
    assert goals.monitor(now + timedelta(minutes=1)) == 0


def test_the_monitor_reads_event_goals_from_the_events_since_enrollment_in_batches(api):
    people = [f"p{i}@example.com" for i in range(3)]
    seq_id = launch(api, journey("Sales", [PAID, PRICING]), people)
    now = max(enrollment(seq_id, p).enrolled_at for p in people)
    workspace = enrollment(seq_id, people[0])
    for address in people[:2]:
        db.session.add(
            ContactEvent(
                tenant_id=workspace.tenant_id,
                workspace_id=api.workspace_id,
                contact_id=contact_id(address, api.workspace_id),
                type="subscription_paid",
                properties={},
                occurred_at=now,
                recorded_at=now,
                source="api",
            )
        )
    db.session.commit()

    assert goals.monitor(now + timedelta(seconds=30), batch=1) == 2

    assert [enrollment(seq_id, p).status for p in people] == ["exited", "exited", "active"]
    assert {(c.goal, c.source) for c in conversions()} == {("Paid", "monitor")}
    assert all(c.event_id is not None for c in conversions())


def test_another_workspace_is_never_touched(app, api):
    seq_id, who, now = started(api, journey("Sales", [PAID]))
    other = api_for(app, "Other Co")
    paid = [event(who, "subscription_paid", now)]

    assert goals.check_events(other.workspace_id, paid, now) == 0
    assert enrollment(seq_id, "ada@example.com").status == "active"
    assert conversions() == []


def test_a_goal_of_another_sequence_is_not_affected(api):
    sales_id, who, now = started(api, journey("Sales", [PAID]))
    nurture_id = launch(api, journey("Nurture", [BOOKED]), ["ada@example.com"])

    assert goals.check_events(api.workspace_id, [event(who, "subscription_paid", now)], now) == 1

    assert enrollment(sales_id, "ada@example.com").status == "exited"
    assert enrollment(nurture_id, "ada@example.com").status == "active"
    assert [c.sequence_id for c in conversions()] == [sales_id]


def test_a_goal_step_records_its_conversion_and_exits_only_when_listed(app, api):
    def checkpoint(name: str, exit_goals: list[str]) -> dict[str, Any]:
        definition = journey(name, [], exit_goals)
        definition["steps"] = [
            email("email_1", f"{name} 1"),
            {"id": "demo", "type": "goal", "config": {"goal": "Demo Seen"}},
            email("email_2", f"{name} 2"),
        ]
        definition["connections"] = [
            {"source": "email_1", "target": "demo"},
            {"source": "demo", "target": "email_2"},
        ]
        return definition

    stop_id = launch(api, checkpoint("Stops", ["Demo Seen"]), ["ada@example.com"])
    go_id = launch(api, checkpoint("Carries on", []), ["ada@example.com"])
    tick(app, datetime.now(UTC))

    stopped, went = enrollment(stop_id, "ada@example.com"), enrollment(go_id, "ada@example.com")
    assert (stopped.status, stopped.exit_reason) == ("exited", "goal 'Demo Seen' reached")
    assert (went.status, went.exit_reason) == ("completed", None)
    found = {(c.sequence_id, c.goal, c.source, c.step_id) for c in conversions()}
    assert found == {
        (stop_id, "Demo Seen", "goal_step", step_uuid(stop_id, "demo")),
        (go_id, "Demo Seen", "goal_step", step_uuid(go_id, "demo")),
    }
    queued = dict(
        db.session.execute(
            select(OutboundMessage.sequence_id, func.count()).group_by(OutboundMessage.sequence_id)
        ).all()
    )
    assert queued == {stop_id: 1, go_id: 2}


def test_an_action_step_setting_the_field_converts_at_once(app, api):
    definition = journey("Sales", [BOOKED])
    definition["steps"].insert(
        1,
        {
            "id": "mark",
            "type": "action",
            "config": {"action": "update_field", "field": "deal_stage", "value": "Meeting Booked"},
        },
    )
    definition["connections"] = [
        {"source": "email_1", "target": "mark"},
        {"source": "mark", "target": "wait_3d"},
        {"source": "wait_3d", "target": "email_2"},
    ]
    seq_id = launch(api, definition, ["ada@example.com"])

    tick(app, enrollment(seq_id, "ada@example.com").enrolled_at)

    done = enrollment(seq_id, "ada@example.com")
    assert (done.status, done.exit_reason) == ("exited", "goal 'Booked Meeting' reached")
    [conversion] = conversions()
    assert conversion.source == "event" and conversion.step_id == step_uuid(seq_id, "wait_3d")
