"""The enrollment's story end to end: an email, a wait and a branch on a click of that email
with a link filter; the contact (in Paris) clicks, the processor runs, and the story (the
service, the API and the page) shows the decisions with "yes" and the click time, and the
emails with their status and clicks, in UTC and in the contact's zone. Another workspace's
enrollment is a 404 on the page and the API."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import ContactSequence, OutboundMessage, Workspace
from app.services import accounts, contacts, enrollment, sequences, tracking
from app.services.enrollment_story import enrollment_story
from tests.helpers import tick
from tests.web.client import PASSWORD, Web

pytestmark = pytest.mark.local_time

MONDAY = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)
CLICK_AT = datetime(2026, 12, 7, 14, 2, tzinfo=UTC)  # 15:02 in Paris
CLICKED = "clicked_link on Email 1 containing /book-demo"
CLICK_TIME = "Mon 7 Dec 15:02 Europe/Paris, 14:02 UTC"
BODY = '<p>Hi</p><p><a href="https://example.com/book-demo?x=1">Book a demo</a></p>'
CLICK = {
    "event": "clicked_link",
    "email_step_id": "hello",
    "link_url_contains": "/book-demo",
}


def definition() -> dict[str, Any]:
    def mail(key: str, name: str, subject: str) -> dict[str, Any]:
        config = {"subject": subject, "body": BODY}
        return {"id": key, "name": name, "type": "email", "config": config}

    return {
        "format": "sequence/v1",
        "name": "Demo follow-up",
        "trigger": {"type": "manual"},
        "steps": [
            mail("hello", "Email 1", "Welcome"),
            {
                "id": "wait",
                "name": "Wait for a click",
                "type": "wait_until",
                "config": {"conditions": [{**CLICK, "timeout": "3 days"}]},
            },
            {
                "id": "check",
                "name": "Booked?",
                "type": "branch",
                "config": {"condition": {"type": "email_event", **CLICK}},
            },
            mail("demo", "Demo email", "Pick a time"),
            mail("nurture", "Nurture email", "A case study"),
        ],
        "connections": [
            {"source": "hello", "target": "wait"},
            {"source": "wait", "target": "check", "label": "met"},
            {"source": "wait", "target": "check", "label": "timeout"},
            {"source": "check", "target": "demo", "label": "true"},
            {"source": "check", "target": "nurture", "label": "false"},
        ],
    }


@pytest.fixture
def clicked(app, api, smtp_sink) -> ContactSequence:
    """Ada (Europe/Paris) enrolled on Monday 10:00 UTC, clicked the demo link at 14:02 UTC
    through the tracking service, and the processor ran a minute later."""
    created = api.post("/api/sequences", json=definition())
    assert created.status_code == 201, created.json
    assert api.post(f"/api/sequences/{created.json['id']}/activate").status_code == 200
    workspace = db.session.get(Workspace, api.workspace_id)
    sequence = sequences.get_sequence(workspace.id, uuid.UUID(created.json["id"]))
    ada = {"email": "ada@example.com", "timezone": "Europe/Paris"}
    enrollment.enroll_contacts(sequence, [contacts.upsert_contact(workspace, ada)[0]], MONDAY)
    tick(app, MONDAY)
    smtp_sink.wait_for(1)

    message = db.session.scalars(select(OutboundMessage)).one()
    click = tracking.resolve_click(tracking.click_token(message.id, 0))
    assert click is not None
    assert tracking.record_click(click, "203.0.113.9", "Firefox", "GET", CLICK_AT) == CLICKED[:12]
    tick(app, CLICK_AT + timedelta(minutes=1))
    assert sorted(str(m["Subject"]) for m in smtp_sink.wait_for(2)) == ["Pick a time", "Welcome"]
    return db.session.scalars(select(ContactSequence)).one()


def texts(found, kind: str) -> list[str]:
    return [e.text for run in found.runs for e in run.entries if e.kind == kind]


def test_the_story_explains_the_wait_and_the_branch_with_the_click_time(app, api, clicked):
    found = enrollment_story(api.workspace_id, clicked.id)

    decisions = texts(found, "decision")
    assert decisions == [
        "Wait until step Wait for a click (wait): met, entered Mon 7 Dec 11:00 Europe/Paris,"
        f" 10:00 UTC; {CLICKED}: met, at {CLICK_TIME} (https://example.com/book-demo?x=1)",
        f"Branch step Booked? (check): took the true path; {CLICKED}: yes, at {CLICK_TIME}",
    ]
    emails = texts(found, "email")
    assert emails[0] == (
        f"Email 'Welcome' (Email 1 (hello)): sent, 0 opens, 1 click (last click {CLICK_TIME})"
    )
    assert emails[1].startswith("Email 'Pick a time' (Demo email (demo)): sent")
    assert f"{CLICKED[:12]} on Email 1: https://example.com/book-demo?x=1" in texts(found, "event")
    assert found.zone.key == "Europe/Paris"


def test_the_api_gives_the_timeline_in_utc_and_in_the_contacts_zone(app, api, clicked):
    answer = api.get(f"/api/enrollments/{clicked.id}")

    assert answer.status_code == 200, answer.json
    body = answer.json
    assert (body["id"], body["status"], body["time_zone"]) == (
        str(clicked.id),
        "completed",
        "Europe/Paris",
    )
    branch = next(e for e in body["timeline"] if e["fields"].get("step") == "check")
    assert branch["kind"] == "decision"
    assert branch["at"] == "2026-12-07T14:03:00+00:00"
    assert branch["local_at"] == "2026-12-07T15:03:00+01:00"
    assert f"{CLICKED}: yes, at {CLICK_TIME}" in branch["text"]
    leaf = branch["fields"]["decision"]["leaves"][0]
    assert (leaf["result"], leaf["at"]) == (True, CLICK_AT.isoformat())
    welcome = next(e for e in body["timeline"] if e["kind"] == "email")
    assert (welcome["fields"]["status"], welcome["fields"]["clicks"]) == ("sent", 1)
    assert welcome["fields"]["subject"] == "Welcome"


def test_the_page_shows_the_decision_and_the_emails_in_both_zones(app, api, clicked):
    workspace = db.session.get(Workspace, api.workspace_id)
    accounts.create_user("support@acme.test", workspace, PASSWORD)
    web = Web(app)
    assert web.sign_in("support@acme.test", PASSWORD).status_code == 302

    page = web.get(f"/enrollments/{clicked.id}")

    assert page.status_code == 200
    html = page.text
    assert f"{CLICKED}: yes, at {CLICK_TIME}" in html
    assert "Email &#39;Welcome&#39; (Email 1 (hello)): sent, 0 opens, 1 click" in html
    assert "07 Dec 2026 14:03 UTC" in html and "07 Dec 2026 15:03 CET" in html
    assert "badge-completed" in html
    contact_page = web.get(f"/contacts/{clicked.contact_id}")
    assert f'href="/enrollments/{clicked.id}"' in contact_page.text


def test_another_workspaces_enrollment_is_a_404_on_the_page_and_the_api(app, api, clicked):
    rival = accounts.create_workspace("Rival")
    accounts.create_user("spy@rival.test", rival, PASSWORD)
    web = Web(app)
    assert web.sign_in("spy@rival.test", PASSWORD).status_code == 302
    token = accounts.create_token(rival)
    headers = {"Authorization": f"Bearer {token}"}

    assert web.get(f"/enrollments/{clicked.id}").status_code == 404
    answer = app.test_client().get(f"/api/enrollments/{clicked.id}", headers=headers)
    assert answer.status_code == 404
    assert answer.json["error"]["message"] == "no such enrollment"
    assert api.get("/api/enrollments/not-a-uuid").status_code == 404
