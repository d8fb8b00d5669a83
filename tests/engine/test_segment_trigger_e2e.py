"""Entry by segment and by hand, end to end: a contact who joins the rule segment
"New Signups" through a PATCH, or is added from the contacts page, is enrolled exactly once
and gets Email 1 at a real SMTP server after `tick` (processor then dispatcher)."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import Flask
from sqlalchemy import func, select

from app.extensions import db
from app.models import ContactEvent, ContactSequence, Workspace
from app.services import accounts, contacts, segments, sequences
from tests.helpers import onboarding_definition, tick
from tests.web.client import Web

PASSWORD = "correct-horse-battery"
WELCOME = "Welcome to PenguinMails!"
NEW_SIGNUPS = {"type": "field", "field": "plan", "op": "eq", "value": "trial"}


def enrollments() -> list[ContactSequence]:
    db.session.expire_all()
    return list(db.session.scalars(select(ContactSequence)))


def joins() -> int:
    stmt = select(func.count()).where(ContactEvent.type == "segment_joined")
    return int(db.session.scalar(stmt) or 0)


def test_joining_new_signups_enrolls_once_and_email_1_arrives(app, api, smtp_sink):
    created = api.post("/api/sequences", json=onboarding_definition())
    assert created.status_code == 201, created.json
    assert created.json["trigger"] == {"type": "segment_join", "segment": "New Signups"}
    assert api.post(f"/api/sequences/{created.json['id']}/activate").status_code == 200
    workspace = db.session.get(Workspace, api.workspace_id)
    segments.create_segment(workspace, "New Signups", "rule", NEW_SIGNUPS, datetime.now(UTC))

    ada = {"email": "ada@example.com", "first_name": "Ada", "fields": {"plan": "free"}}
    contact = api.post("/api/contacts", json=ada).json
    assert enrollments() == []

    assert (
        api.patch(f"/api/contacts/{contact['id']}", json={"fields": {"plan": "trial"}}).status_code
        == 200
    )
    [enrollment] = enrollments()
    assert enrollment.enroll_reason == "joined segment 'New Signups'"
    assert joins() == 1

    # still in the segment: no new join, no second enrollment
    api.patch(f"/api/contacts/{contact['id']}", json={"fields": {"company": "Acme"}})
    # leaving and joining again fires the trigger again; re-enrollment "never" refuses it
    api.patch(f"/api/contacts/{contact['id']}", json={"fields": {"plan": "paid"}})
    api.patch(f"/api/contacts/{contact['id']}", json={"fields": {"plan": "trial"}})
    assert joins() == 2
    [same] = enrollments()
    assert (same.id, same.runs, same.status) == (enrollment.id, 1, "active")

    due = enrollment.next_execution_at
    tick(app, due)
    tick(app, due)  # the same instant again sends nothing more
    assert [str(m["Subject"]) for m in smtp_sink.messages] == [WELCOME]
    assert smtp_sink.messages[0]["To"].addresses[0].addr_spec == "ada@example.com"
    assert "Hi Ada," in smtp_sink.messages[0].get_body(("html",)).get_content()


def test_added_by_hand_from_the_contact_page_gets_email_1_once(app: Flask, smtp_sink):
    workspace = accounts.create_workspace("Acme")
    accounts.create_user("marketer@acme.test", workspace, PASSWORD)
    definition = {**onboarding_definition(), "trigger": {"type": "manual"}}
    sequence = sequences.create_sequence(workspace, sequences.parse_input(definition))
    sequences.set_status(sequence, "activate", datetime.now(UTC))
    grace, _ = contacts.upsert_contact(
        workspace, {"email": "grace@example.com", "first_name": "Grace"}
    )
    web = Web(app)
    assert web.sign_in("marketer@acme.test", PASSWORD).status_code == 302
    csrf = web.csrf_token(f"/contacts/{grace.id}")

    for _ in range(2):
        page = web.post(
            f"/contacts/{grace.id}/enroll",
            data={"csrf_token": csrf, "sequence_id": str(sequence.id)},
        )
        assert page.status_code == 200
    assert "grace@example.com: already enrolled (active)" in page.text

    [enrollment] = enrollments()
    assert enrollment.enroll_reason == "added by marketer@acme.test"
    due = enrollment.next_execution_at
    tick(app, due)
    tick(app, due)  # the same instant again sends nothing more
    assert [str(m["Subject"]) for m in smtp_sink.messages] == [WELCOME]
    assert smtp_sink.messages[0]["To"].addresses[0].addr_spec == "grace@example.com"
