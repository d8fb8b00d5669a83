"""Branches and actions end to end, through `tick` and the real SMTP sink: a branch on a tag
sends each contact down its own path, tag and field actions are stored on the contact, and
a move enrolls the contact in the other sequence, which sends its first email."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from app.extensions import db
from app.models import (
    Contact,
    ContactEvent,
    ContactSequence,
    Segment,
    SegmentMembership,
    StepLog,
    Workspace,
)
from app.services import contacts, enrollment, sequences
from tests.helpers import tick

MONDAY = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)


def email(step_id: str, subject: str) -> dict[str, Any]:
    return {"id": step_id, "type": "email", "config": {"subject": subject, "body": "<p>.</p>"}}


def action(step_id: str, **config: Any) -> dict[str, Any]:
    return {"id": step_id, "type": "action", "config": config}


def definition(name: str, steps: list[dict[str, Any]], connections: list[Any]) -> dict[str, Any]:
    return {
        "format": "sequence/v1",
        "name": name,
        "trigger": {"type": "manual"},
        "steps": steps,
        "connections": [
            {"source": c[0], "target": c[1], "label": c[2] if len(c) > 2 else None}
            for c in connections
        ],
    }


def create(api, defn: dict[str, Any]) -> Any:
    created = api.post("/api/sequences", json=defn)
    assert created.status_code == 201, created.json
    activated = api.post(f"/api/sequences/{created.json['id']}/activate")
    assert activated.status_code == 200, activated.json
    workspace = db.session.get(Workspace, api.workspace_id)
    return sequences.get_sequence(workspace.id, uuid.UUID(created.json["id"]))


def people(api, *data: dict[str, Any]) -> list[Contact]:
    workspace = db.session.get(Workspace, api.workspace_id)
    return [contacts.upsert_contact(workspace, d)[0] for d in data]


def subjects(sink) -> dict[str, list[str]]:
    """Subjects per recipient, sorted: emails queued at the same instant go out in any order."""
    got: dict[str, list[str]] = {}
    for message in sink.messages:
        got.setdefault(message["To"].addresses[0].addr_spec, []).append(str(message["Subject"]))
    return {who: sorted(found) for who, found in got.items()}


def contact(email_address: str) -> Contact:
    found = db.session.scalar(select(Contact).where(Contact.email == email_address))
    db.session.refresh(found)
    return found


def test_a_branch_on_a_tag_sends_each_contact_down_its_path(app, api, smtp_sink):
    tagged = {"type": "tag", "tag": "High Intent"}
    sequence = create(
        api,
        definition(
            "Tag branch",
            [
                email("first", "Welcome"),
                {"id": "br", "type": "branch", "config": {"type": "branch", "condition": tagged}},
                email("sales", "Pick a time"),
                email("nurture", "A case study"),
            ],
            [("first", "br"), ("br", "sales", "true"), ("br", "nurture", "false")],
        ),
    )
    found = people(api, {"email": "a@x.test", "tags": ["High Intent"]}, {"email": "b@x.test"})
    enrollment.enroll_contacts(sequence, found, MONDAY)

    tick(app, MONDAY)

    assert subjects(smtp_sink) == {
        "a@x.test": ["Pick a time", "Welcome"],
        "b@x.test": ["A case study", "Welcome"],
    }
    paths = select(StepLog.outcome).where(StepLog.outcome.in_(("true", "false")))
    assert sorted(db.session.scalars(paths)) == ["false", "true"]


def test_tag_and_field_actions_are_stored_on_the_contact(app, api, smtp_sink):
    segment_condition = {
        "all": [
            {"type": "tag", "tag": "VIP"},
            {"type": "field", "field": "stage", "op": "eq", "value": "hot"},
            {"type": "segment", "segment": "Enterprise"},
        ]
    }
    sequence = create(
        api,
        definition(
            "Actions",
            [
                action("tag", action="add_tag", tag="VIP"),
                action("untag", action="remove_tag", tag="Cold"),
                action("stage", action="update_field", field="stage", value="hot"),
                action("clear", action="update_field", field="old", value=None),
                {
                    "id": "br",
                    "type": "branch",
                    "config": {"type": "branch", "condition": segment_condition},
                },
                email("yes", "You are hot"),
                email("no", "Not yet"),
            ],
            [
                ("tag", "untag"),
                ("untag", "stage"),
                ("stage", "clear"),
                ("clear", "br"),
                ("br", "yes", "true"),
                ("br", "no", "false"),
            ],
        ),
    )
    found = people(
        api,
        {"email": "ent@x.test", "tags": ["Cold", "Keep"], "fields": {"old": 1, "size": 9}},
        {"email": "smb@x.test"},
    )
    workspace = db.session.get(Workspace, api.workspace_id)
    enterprise = Segment(
        tenant_id=workspace.tenant_id, workspace_id=workspace.id, name="Enterprise"
    )
    db.session.add(enterprise)
    db.session.flush()
    db.session.add(
        SegmentMembership(
            tenant_id=workspace.tenant_id,
            workspace_id=workspace.id,
            segment_id=enterprise.id,
            contact_id=found[0].id,
        )
    )
    db.session.commit()
    enrollment.enroll_contacts(sequence, found, MONDAY)

    tick(app, MONDAY)

    ent, smb = contact("ent@x.test"), contact("smb@x.test")
    assert sorted(ent.tags) == ["Keep", "VIP"]
    assert ent.fields == {"size": 9, "stage": "hot"}
    assert smb.tags == ["VIP"] and smb.fields == {"stage": "hot"}
    assert subjects(smtp_sink) == {"ent@x.test": ["You are hot"], "smb@x.test": ["Not yet"]}

    changes = db.session.scalars(
        select(ContactEvent).where(ContactEvent.type == "field_changed")
    ).all()
    recorded = sorted((str(e.contact_id), e.properties["field"], e.source) for e in changes)
    assert recorded == sorted(
        [
            (str(ent.id), "stage", "engine"),
            (str(ent.id), "old", "engine"),
            (str(smb.id), "stage", "engine"),
        ]
    )
    applied = db.session.scalars(select(StepLog.outcome).where(StepLog.outcome == "applied"))
    assert len(list(applied)) == 8


def test_move_to_sequence_enrolls_the_contact_there_and_sends_its_first_email(app, api, smtp_sink):
    nurture = create(
        api,
        definition(
            "Nurture",
            [
                email("n1", "Nurture one"),
                {"id": "wait", "type": "delay", "config": {"duration": "2 days"}},
                email("n2", "Nurture two"),
            ],
            [("n1", "wait"), ("wait", "n2")],
        ),
    )
    onboarding = create(
        api,
        definition(
            "Onboarding",
            [
                email("hello", "Hello"),
                action("move", action="move_to_sequence", sequence="Nurture"),
            ],
            [("hello", "move")],
        ),
    )
    lost = create(
        api,
        definition(
            "Broken move",
            [action("move", action="move_to_sequence", sequence="No such sequence")],
            [],
        ),
    )
    found = people(api, {"email": "mover@x.test"}, {"email": "stray@x.test"})
    enrollment.enroll_contacts(onboarding, [found[0]], MONDAY)
    enrollment.enroll_contacts(lost, [found[1]], MONDAY)

    tick(app, MONDAY)

    assert subjects(smtp_sink) == {"mover@x.test": ["Hello", "Nurture one"]}  # sorted
    rows = {
        (r.sequence_id, r.contact_id): r
        for r in db.session.scalars(
            select(ContactSequence).execution_options(populate_existing=True)
        )
    }
    moved = rows[(onboarding.id, found[0].id)]
    assert moved.status == "exited" and moved.exit_reason == "moved to sequence 'Nurture'"
    arrived = rows[(nurture.id, found[0].id)]
    assert arrived.status == "active" and arrived.enroll_reason == "moved from Onboarding"
    stray = rows[(lost.id, found[1].id)]
    assert stray.status == "exited"
    assert stray.exit_reason == "moved to sequence 'No such sequence'"
    assert len(rows) == 3

    tick(app, MONDAY + timedelta(days=2))
    assert subjects(smtp_sink)["mover@x.test"] == ["Hello", "Nurture one", "Nurture two"]
    assert str(smtp_sink.messages[-1]["Subject"]) == "Nurture two"
