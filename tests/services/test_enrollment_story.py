"""The story service: earlier runs told apart from the current one, steps of a retired
version still named, outside changes told generically, and a fixed number of queries
whatever the story's length."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update

from app.extensions import db
from app.models import ContactEvent, ContactSequence, EnrollmentChange, SequenceStep, Workspace
from app.services import contacts, enrollment, sequences
from app.services.enrollment_story import enrollment_story
from tests.helpers import tick
from tests.sql_statements import statements_sent

T0 = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
DAY_2 = T0 + timedelta(days=1)


def definition() -> dict:
    return {
        "format": "sequence/v1",
        "name": "Welcome",
        "trigger": {"type": "manual"},
        "re_enrollment": {"mode": "always"},
        "steps": [
            {
                "id": "hello",
                "name": "Hello email",
                "type": "email",
                "config": {"subject": "Hello", "body": "<p>Welcome</p>"},
            }
        ],
        "connections": [],
    }


def twice_enrolled(app, api) -> ContactSequence:
    """Ada, enrolled and finished on T0, enrolled again and finished on day 2."""
    created = api.post("/api/sequences", json=definition())
    assert api.post(f"/api/sequences/{created.json['id']}/activate").status_code == 200
    workspace = db.session.get(Workspace, api.workspace_id)
    sequence = sequences.get_sequence(workspace.id, uuid.UUID(created.json["id"]))
    ada = contacts.upsert_contact(workspace, {"email": "ada@example.com"})[0]
    for day in (T0, DAY_2):
        enrollment.enroll_contacts(sequence, [ada], day)
        tick(app, day)
    return db.session.scalars(select(ContactSequence)).one()


def test_each_run_has_its_own_steps_and_emails_newest_run_first(app, api, smtp_sink):
    found = twice_enrolled(app, api)

    story = enrollment_story(api.workspace_id, found.id)

    assert [(part.run.number, part.run.current) for part in story.runs] == [(2, True), (1, False)]
    for part in story.runs:
        kinds = [entry.kind for entry in part.entries]
        assert kinds.count("step") == 1 and kinds.count("email") == 1
        assert all(entry.at.date() == part.run.enrolled_at.date() for entry in part.entries)
    first = story.runs[1].entries
    assert first[0].text.startswith("Enrolled (run 1)")
    assert first[-1].text == "Run 1 completed"  # after its steps, at the same instant


def test_a_retired_step_and_an_outside_change_are_told(app, api, smtp_sink):
    found = twice_enrolled(app, api)
    db.session.execute(update(SequenceStep).values(retired_in=3))
    db.session.add(
        EnrollmentChange(
            tenant_id=found.tenant_id,
            workspace_id=found.workspace_id,
            enrollment_id=found.id,
            sequence_id=found.sequence_id,
            kind="intervention",
            action="skip_wait",
            actor="ops@acme.test",
            detail="customer asked for the next email",
            created_at=DAY_2 + timedelta(hours=1),
        )
    )
    db.session.commit()

    story = enrollment_story(api.workspace_id, found.id)

    texts = [entry.text for entry in story.runs[0].entries]
    assert "ops@acme.test skip wait: customer asked for the next email" in texts
    assert "Email step Hello email (hello), retired in v3: queued" in texts


def test_the_story_takes_as_many_queries_for_a_long_story_as_for_a_short_one(app, api, smtp_sink):
    found = twice_enrolled(app, api)
    workspace_id, enrollment_id = api.workspace_id, found.id
    with statements_sent() as short:
        enrollment_story(workspace_id, enrollment_id)
    db.session.add_all(
        ContactEvent(
            tenant_id=found.tenant_id,
            workspace_id=found.workspace_id,
            contact_id=found.contact_id,
            type="page_viewed",
            properties={"url": f"https://example.com/{i}"},
            occurred_at=DAY_2 + timedelta(minutes=i),
            source="api",
        )
        for i in range(40)
    )
    db.session.commit()

    with statements_sent() as long:
        story = enrollment_story(workspace_id, enrollment_id)

    assert len(long) == len(short) == 9
    assert sum(entry.kind == "event" for entry in story.runs[0].entries) == 40


def test_another_workspaces_enrollment_has_no_story(app, api, smtp_sink):
    found = twice_enrolled(app, api)
    assert enrollment_story(uuid.uuid4(), found.id) is None
