"""Adding a contact from the contacts page, editing one on its page (recorded as field
changes that goals react to at once), and "Remove from sequence" on the contact and
enrollments pages: inline errors naming the field, nothing half-saved, CSRF, isolation.

Runs on SQLite and PostgreSQL; every request in its own app context (see tests/web/client.py).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask
from sqlalchemy import select

from app.extensions import db
from app.models import Contact, ContactEvent, ContactSequence
from app.services import contacts, enrollment, segments, sequences
from tests.services.test_goals import BOOKED, journey
from tests.web.client import Web
from tests.web.test_contacts_pages import NOW, PASSWORD, USER, Acme, make_workspace


@pytest.fixture
def acme(app: Flask) -> Acme:
    people = [
        {
            "email": "ada@example.com",
            "first_name": "Ada",
            "tags": ["vip"],
            "fields": {"plan": "trial", "seats": 3, "region": "EU"},
        },
        {"email": "bob@example.com", "first_name": "Bob"},
    ]
    return make_workspace("Acme", USER, people)


@pytest.fixture
def web(app: Flask, acme: Acme) -> Web:
    client = Web(app)
    assert client.sign_in(USER, PASSWORD).status_code == 302
    return client


def contact(email: str) -> Contact | None:
    db.session.expire_all()
    return db.session.scalar(select(Contact).where(Contact.email == email))


def field_changes() -> list[tuple[str, object, object]]:
    db.session.expire_all()
    found = list(
        db.session.scalars(select(ContactEvent).where(ContactEvent.type == "field_changed"))
    )
    assert all(e.source == "ui" for e in found), "edits on the contact page are the UI's"
    return sorted((e.properties["field"], e.properties["from"], e.properties["to"]) for e in found)


# --- New contact ---------------------------------------------------------------------------


def test_a_new_contact_is_created_and_reactions_run(web, acme):
    vips = segments.create_segment(
        acme.workspace, "VIPs", "rule", {"type": "tag", "tag": "vip"}, NOW
    )
    page = web.get("/contacts")
    assert 'action="/contacts/new"' in page.text and 'name="tags"' in page.text
    csrf = web.csrf_token("/contacts")
    response = web.post(
        "/contacts/new",
        data={
            "csrf_token": csrf,
            "email": "  Cleo@Example.COM ",
            "first_name": "Cleo",
            "last_name": "",
            "timezone": "Europe/Paris",
            "tags": "vip; beta ;",
        },
    )
    cleo = contact("Cleo@example.com")
    assert cleo is not None
    assert response.status_code == 302
    assert response.headers["Location"] == f"/contacts/{cleo.id}"
    assert (cleo.first_name, cleo.last_name, cleo.timezone) == ("Cleo", None, "Europe/Paris")
    assert cleo.tags == ["beta", "vip"] and cleo.workspace_id == acme.workspace.id
    # after_change ran: the rule segment took her in at once
    assert [s.id for s in segments.segments_of(acme.workspace.id, cleo.id)] == [vips.id]
    shown = web.get(response.headers["Location"])
    assert "Added Cleo@example.com." in shown.text


def test_an_existing_email_is_pointed_to_not_updated(web, acme):
    csrf = web.csrf_token("/contacts")
    response = web.post(
        "/contacts/new",
        data={"csrf_token": csrf, "email": "ada@EXAMPLE.com", "first_name": "Changed"},
    )
    assert response.status_code == 422
    assert "A contact with this email already exists" in response.text
    ada = acme.ids["ada@example.com"]
    assert f'href="/contacts/{ada}"' in response.text
    assert contact("ada@example.com").first_name == "Ada"
    assert 'value="Changed"' in response.text  # what was typed stays in the form


def test_a_bad_new_contact_is_refused_inline(web, acme):
    csrf = web.csrf_token("/contacts")
    for data, field, words in [
        ({"email": "not-an-email"}, "email", "is not an email address"),
        ({"email": "cleo@example.com", "timezone": "Europe/Pariss"}, "timezone", "IANA"),
    ]:
        response = web.post("/contacts/new", data={"csrf_token": csrf, **data})
        assert response.status_code == 422
        assert f'id="new-{field}-error">' in response.text and words in response.text
    assert contact("cleo@example.com") is None
    assert db.session.query(Contact).count() == 2


def test_an_existing_email_typed_in_other_case_is_pointed_to(web, acme):
    csrf = web.csrf_token("/contacts")
    response = web.post("/contacts/new", data={"csrf_token": csrf, "email": "ADA@example.com"})
    assert response.status_code == 422
    assert f'href="/contacts/{acme.ids["ada@example.com"]}"' in response.text
    assert db.session.query(Contact).count() == 2


def test_est_is_refused_in_the_new_and_edit_forms_with_the_zone_meant(web, acme):
    suggestion = "did you mean &#39;America/New_York&#39;?"
    csrf = web.csrf_token("/contacts")
    data = {"csrf_token": csrf, "email": "cleo@example.com", "timezone": "EST"}
    response = web.post("/contacts/new", data=data)
    assert response.status_code == 422
    assert 'id="new-timezone-error">' in response.text and suggestion in response.text
    assert contact("cleo@example.com") is None

    ada = acme.ids["ada@example.com"]
    data = {"csrf_token": web.csrf_token(f"/contacts/{ada}"), "timezone": "EST", "tags": "vip"}
    response = web.post(f"/contacts/{ada}/edit", data=data)
    assert response.status_code == 422
    assert 'id="edit-timezone-error"' in response.text and suggestion in response.text
    assert contact("ada@example.com").timezone is None


# --- Edit ------------------------------------------------------------------------------------


def test_an_edit_saves_every_part_and_records_each_change(web, acme):
    ada = acme.ids["ada@example.com"]
    page = web.get(f"/contacts/{ada}")
    assert f'action="/contacts/{ada}/edit"' in page.text
    assert 'name="field_value" value="3"' in page.text  # a number shown as JSON
    csrf = web.csrf_token(f"/contacts/{ada}")
    response = web.post(
        f"/contacts/{ada}/edit",
        data={
            "csrf_token": csrf,
            "first_name": "Augusta",
            "last_name": "King",
            "timezone": "Europe/London",
            "tags": "b2b; vip",
            "field_key": ["plan", "seats", "region", "deal_stage", ""],
            "field_value": ["pro", "3", "", "Qualified", ""],
        },
    )
    assert response.status_code == 302 and response.headers["Location"] == f"/contacts/{ada}"
    saved = contact("ada@example.com")
    assert (saved.first_name, saved.last_name, saved.timezone) == (
        "Augusta",
        "King",
        "Europe/London",
    )
    assert saved.tags == ["b2b", "vip"]
    # seats left as shown stays the number 3; an empty region removes the field
    assert saved.fields == {"plan": "pro", "seats": 3, "deal_stage": "Qualified"}
    assert field_changes() == [
        ("deal_stage", None, "Qualified"),
        ("first_name", "Ada", "Augusta"),
        ("last_name", None, "King"),
        ("plan", "trial", "pro"),
        ("region", "EU", None),
        ("timezone", None, "Europe/London"),
    ]
    assert "Saved." in web.get(f"/contacts/{ada}").text


def test_a_bad_edit_is_refused_inline_and_saves_nothing(web, acme):
    ada = acme.ids["ada@example.com"]
    csrf = web.csrf_token(f"/contacts/{ada}")
    body = {
        "csrf_token": csrf,
        "first_name": "Changed",
        "tags": "changed",
        "field_key": ["plan"],
        "field_value": ["pro"],
    }
    for data, field, words in [
        ({"timezone": "Mars/Olympus"}, "timezone", "is not an IANA time zone"),
        ({"first_name": "x" * 256}, "first_name", "at most 255 characters"),
        ({"field_key": ["plan", ""], "field_value": ["pro", "orphan"]}, "fields", "Name the"),
        ({"field_key": ["plan", "plan"], "field_value": ["a", "b"]}, "fields", "appears twice"),
    ]:
        response = web.post(f"/contacts/{ada}/edit", data={**body, **data})
        assert response.status_code == 422
        assert words in response.text and f'id="edit-{field}-error"' in response.text
        assert 'value="changed"' in response.text  # the typed tags are kept in the form
    saved = contact("ada@example.com")
    assert (saved.first_name, saved.timezone, saved.tags) == ("Ada", None, ["vip"])
    assert saved.fields == {"plan": "trial", "seats": 3, "region": "EU"}
    assert field_changes() == []


def test_an_edit_converts_a_field_goal_at_once(web, acme):
    workspace = acme.workspace
    sequence = sequences.create_sequence(
        workspace, sequences.parse_input(journey("Sales Follow-up", [BOOKED]))
    )
    earlier = datetime.now(UTC) - timedelta(hours=1)
    sequences.set_status(sequence, "activate", earlier)
    bob = contacts.get_contact(workspace.id, acme.ids["bob@example.com"])
    enrollment.enroll_contacts(sequence, [bob], earlier)

    csrf = web.csrf_token(f"/contacts/{bob.id}")
    response = web.post(
        f"/contacts/{bob.id}/edit",
        data={
            "csrf_token": csrf,
            "first_name": "Bob",
            "field_key": "deal_stage",
            "field_value": "Meeting Booked",
        },
    )
    assert response.status_code == 302
    db.session.expire_all()
    ended = db.session.scalar(
        select(ContactSequence).where(ContactSequence.sequence_id == sequence.id)
    )
    assert (ended.status, ended.exit_reason) == ("exited", "goal 'Booked Meeting' reached")


# --- Remove from sequence ------------------------------------------------------------------


def enroll(acme: Acme, email: str) -> uuid.UUID:
    sequence = sequences.get_sequence(acme.workspace.id, acme.sequence_id)
    person = contacts.get_contact(acme.workspace.id, acme.ids[email])
    enrollment.enroll_contacts(sequence, [person], NOW)
    return db.session.scalar(
        select(ContactSequence.id).where(ContactSequence.contact_id == person.id)
    )


def state(enrollment_id: uuid.UUID) -> tuple[str, str | None]:
    db.session.expire_all()
    row = db.session.get(ContactSequence, enrollment_id)
    return row.status, row.exit_reason


HTMX = {"HX-Request": "true", "HX-Boosted": "true"}
"""What a boosted form sends once the user accepted its hx-confirm dialog."""


def test_remove_from_sequence_on_the_contact_page(web, acme):
    ada = acme.ids["ada@example.com"]
    enrollment_id = enroll(acme, "ada@example.com")
    page = web.get(f"/contacts/{ada}")
    action = f'action="/enrollments/{enrollment_id}/exit"'
    assert action in page.text and "Remove from sequence" in page.text
    assert 'hx-confirm="Remove ada@example.com from New User Onboarding?' in page.text
    csrf = web.csrf_token(f"/contacts/{ada}")

    response = web.post(
        f"/enrollments/{enrollment_id}/exit",
        data={"csrf_token": csrf, "next": f"/contacts/{ada}"},
        headers=HTMX,
    )

    assert response.status_code == 302 and response.headers["Location"] == f"/contacts/{ada}"
    assert state(enrollment_id) == ("exited", f"removed by {USER}")
    after = web.get(f"/contacts/{ada}")
    assert "Removed from the sequence" in after.text and action not in after.text
    assert f"left: removed by {USER}" in after.text

    again = web.post(f"/enrollments/{enrollment_id}/exit", data={"csrf_token": csrf}, headers=HTMX)
    assert again.headers["Location"] == "/enrollments"
    assert "already finished" in web.get("/enrollments").text
    assert state(enrollment_id) == ("exited", f"removed by {USER}")


def test_remove_from_sequence_on_the_enrollments_page_asks_first(web, acme):
    enrollment_id = enroll(acme, "bob@example.com")
    page = web.get("/enrollments")
    assert f'action="/enrollments/{enrollment_id}/exit"' in page.text
    assert 'name="next" value="/enrollments?"' in page.text
    csrf = web.csrf_token("/enrollments")

    asked = web.post(
        f"/enrollments/{enrollment_id}/exit", data={"csrf_token": csrf, "next": "/enrollments?"}
    )
    assert asked.status_code == 200 and 'id="confirm-exit"' in asked.text
    assert "Remove <strong>bob@example.com</strong> from" in asked.text
    assert 'name="confirmed" value="yes"' in asked.text and 'href="/enrollments?"' in asked.text
    assert state(enrollment_id) == ("active", None)  # nothing happens until confirmed

    for bad_next in ("//evil.test/x", "https://evil.test/", "/\\evil.test", "javascript:x"):
        response = web.post(
            f"/enrollments/{enrollment_id}/exit",
            data={"csrf_token": csrf, "next": bad_next, "confirmed": "yes"},
        )
        assert response.headers["Location"] == "/enrollments", bad_next  # never another site
    assert state(enrollment_id) == ("exited", f"removed by {USER}")
    assert f"removed by {USER}" in web.get("/enrollments").text


def test_remove_needs_csrf_and_the_workspaces_own_enrollment(app, web, acme):
    mine = enroll(acme, "ada@example.com")
    assert web.post(f"/enrollments/{mine}/exit").status_code == 400
    assert state(mine) == ("active", None)

    other = make_workspace("Other", "someone@other.test", [{"email": "eve@other.test"}])
    theirs = enroll(other, "eve@other.test")
    csrf = web.csrf_token("/enrollments")
    for target in (theirs, uuid.uuid4()):
        assert web.post(f"/enrollments/{target}/exit", data={"csrf_token": csrf}).status_code == 404
    assert state(theirs) == ("active", None)


def test_new_and_edit_need_csrf_and_the_workspaces_own_contact(web, acme):
    ada = acme.ids["ada@example.com"]
    assert web.post("/contacts/new", data={"email": "cleo@example.com"}).status_code == 400
    assert web.post(f"/contacts/{ada}/edit", data={"first_name": "X"}).status_code == 400
    other = make_workspace("Other", "someone@other.test", [{"email": "eve@other.test"}])
    eve = other.ids["eve@other.test"]
    csrf = web.csrf_token("/contacts")
    assert (
        web.post(f"/contacts/{eve}/edit", data={"csrf_token": csrf, "first_name": "X"}).status_code
        == 404
    )
    assert contact("cleo@example.com") is None and contact("eve@other.test").first_name is None
    assert contact("ada@example.com").first_name == "Ada"
