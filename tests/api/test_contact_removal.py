"""Deleting and erasing a contact through the API: a deleted contact leaves nothing behind;
an erased one leaves nothing that identifies them while the sequence's report counts what it
counted before (sent, opened per step). Runs on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from app.extensions import db
from app.models import (
    Contact,
    ContactEvent,
    ContactSequence,
    OutboundMessage,
    SegmentMembership,
    Sequence,
    Workspace,
)
from app.services import segments
from app.services.analytics import sequence_analytics
from app.services.scheduling import run_tick
from app.services.tracking import open_token
from tests.conftest import api_for
from tests.report_data import BROWSER
from tests.services.test_goals import contact_id, journey, launch


def figures(sequence_id) -> dict:
    """What the report counts: the totals, and each step's but who is waiting on it now."""
    report = sequence_analytics(db.session.get_one(Sequence, sequence_id), now=datetime.now(UTC))
    steps = [{k: v for k, v in s.items() if k != "waiting_here"} for s in report["steps"]]
    return {"summary": report["summary"], "steps": steps}


def count(model, *criteria) -> int:
    return db.session.scalar(select(func.count()).select_from(model).where(*criteria))


def sent_and_opened(app, api):
    """Ada and Bob get email 1; Ada opens it, changes a field and logs in; Ada is a member
    of a static segment."""
    sequence_id = launch(api, journey("Trial", []), ["ada@example.com", "bob@example.com"])
    now = datetime.now(UTC)  # the API enrolled at the wall clock
    run_tick(now)
    ada = contact_id("ada@example.com", api.workspace_id)
    message = db.session.scalar(select(OutboundMessage).where(OutboundMessage.contact_id == ada))
    message.sent_at = now - timedelta(hours=1)  # opened long after: not a machine open
    db.session.commit()
    opened = app.test_client().get(
        f"/t/o/{open_token(message.id)}.gif", headers={"User-Agent": BROWSER}
    )
    assert opened.status_code == 200
    patched = api.patch(f"/api/contacts/{ada}", json={"first_name": "Ada", "fields": {"p": 1}})
    assert patched.status_code == 200
    assert api.post("/api/events", json={"contact": {"id": str(ada)}, "event": "login"}).json
    workspace = db.session.get_one(Workspace, api.workspace_id)
    vips = segments.create_segment(workspace, "VIPs", "static", None, now)
    segments.add_members(vips, [ada], now)
    return sequence_id, ada


def test_erasing_keeps_the_reports_figures_and_nothing_that_identifies_the_person(app, api):
    sequence_id, ada = sent_and_opened(app, api)
    before = figures(sequence_id)
    assert before["summary"]["emails_sent"] == 2 and before["summary"]["opened"] == 1

    response = api.post(f"/api/contacts/{ada}/erase")

    assert response.status_code == 200, response.json
    erased = f"erased-{ada.hex}@erased.invalid"
    assert response.json["email"] == erased
    db.session.expire_all()
    contact = db.session.get_one(Contact, ada)
    assert (contact.email, contact.email_key, contact.first_name) == (erased, erased, None)
    assert (contact.fields, contact.tags) == ({}, [])
    assert contact.unsubscribed_at is not None  # never emailed again
    kept = db.session.execute(
        select(ContactEvent.type, ContactEvent.properties).where(ContactEvent.contact_id == ada)
    ).all()
    assert kept == [("opened", {})]
    message = db.session.scalar(select(OutboundMessage).where(OutboundMessage.contact_id == ada))
    assert (message.to_email, message.subject, message.html, message.text) == (
        erased,
        None,
        None,
        None,
    )
    assert message.status == "captured"
    enrollment = db.session.scalar(select(ContactSequence).where(ContactSequence.contact_id == ada))
    assert (enrollment.status, enrollment.exit_reason) == ("exited", "contact erased")
    assert enrollment.context_data == {}
    assert count(SegmentMembership, SegmentMembership.contact_id == ada) == 0
    assert figures(sequence_id) == before
    bob = db.session.scalar(select(Contact).where(Contact.email == "bob@example.com"))
    assert bob is not None and bob.unsubscribed_at is None


def test_deleting_a_contact_removes_everything_recorded_about_them(app, api):
    sequence_id, ada = sent_and_opened(app, api)

    response = api.client.delete(f"/api/contacts/{ada}", headers=api._headers())

    assert response.status_code == 204 and response.data == b""
    assert api.get(f"/api/contacts/{ada}").status_code == 404
    for model in (ContactEvent, ContactSequence, OutboundMessage, SegmentMembership):
        assert count(model, model.contact_id == ada) == 0, model
    assert figures(sequence_id)["summary"]["emails_sent"] == 1  # Bob's
    assert count(Contact) == 1


def test_another_workspaces_contact_cannot_be_deleted_or_erased(app, api):
    other = api_for(app, "Globex")
    theirs = other.post("/api/contacts", json={"email": "eve@globex.test"}).json["id"]

    assert api.client.delete(f"/api/contacts/{theirs}", headers=api._headers()).status_code == 404
    assert api.post(f"/api/contacts/{theirs}/erase").status_code == 404
    assert api.post("/api/contacts/not-a-uuid/erase").status_code == 404
    assert other.get(f"/api/contacts/{theirs}").json["email"] == "eve@globex.test"
