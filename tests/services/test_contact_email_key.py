"""One contact per address whatever its case: every way in (CSV import, the contacts and
events APIs, hosted forms, the new-contact page, enrolling by email) finds the contact by
its key and keeps the spelling it was first given. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from app.extensions import db
from app.models import Contact, ContactImport, ContactSequence, Workspace
from app.services import contact_import, contacts, forms, sequences
from tests.services.test_forms import ebook_sequence

NOW = datetime(2026, 12, 7, 14, 0, tzinfo=UTC)


@pytest.fixture
def tom(api) -> Contact:
    workspace = db.session.get_one(Workspace, api.workspace_id)
    contact, _ = contacts.upsert_contact(workspace, {"email": "tom@contoso.example"}, NOW)
    db.session.commit()
    return contact


def all_contacts() -> list[Contact]:
    db.session.expire_all()
    return list(db.session.scalars(select(Contact)))


def test_importing_tom_in_capitals_updates_the_one_existing_contact(api, tom):
    workspace = db.session.get_one(Workspace, api.workspace_id)
    csv = "email,first_name,plan\nTOM@CONTOSO.EXAMPLE,Tom,pro\n"
    job = contact_import.start_import(workspace, "people.csv", csv, None)
    while contact_import.process_pending(NOW, chunk=100):
        pass

    [contact] = all_contacts()
    assert contact.id == tom.id and contact.email == "tom@contoso.example"
    assert (contact.first_name, contact.fields) == ("Tom", {"plan": "pro"})
    job = db.session.get_one(ContactImport, job.id)
    assert (job.created_count, job.updated_count) == (0, 1)


def test_two_spellings_in_one_file_are_one_new_contact_spelled_as_first_given(api):
    workspace = db.session.get_one(Workspace, api.workspace_id)
    csv = "email,first_name,last_name\nMaria.Lopez@Example.test,Maria,\n"
    csv += "maria.lopez@example.test,,Lopez\n"
    contact_import.start_import(workspace, "people.csv", csv, None)
    while contact_import.process_pending(NOW, chunk=100):
        pass

    [contact] = all_contacts()
    assert contact.email == "Maria.Lopez@example.test"
    assert (contact.first_name, contact.last_name) == ("Maria", "Lopez")


def test_the_contacts_api_updates_the_contact_an_other_spelling_names(api, tom):
    response = api.post("/api/contacts", json={"email": "Tom@Contoso.Example", "last_name": "T"})

    assert response.status_code == 200, response.json
    assert response.json["id"] == str(tom.id) and response.json["email"] == "tom@contoso.example"
    assert len(all_contacts()) == 1


def test_events_for_an_other_spelling_are_the_existing_contacts(api, tom):
    batch = [
        {"contact": {"email": "TOM@contoso.example"}, "event": "login"},
        {"contact": {"email": "new@Contoso.example"}, "event": "login"},
        {"contact": {"email": "NEW@contoso.example"}, "event": "login"},
    ]
    response = api.post("/api/events", json={"events": batch})

    assert response.status_code == 202, response.json
    assert sorted(c.email for c in all_contacts()) == ["new@contoso.example", "tom@contoso.example"]


def test_a_form_submission_in_capitals_updates_the_existing_contact(api, tom):
    workspace = db.session.get_one(Workspace, api.workspace_id)
    ebook_sequence(workspace, NOW)
    [form] = forms.ensure_forms_for_workspace(workspace.id)

    result = forms.submit(form, {"email": "TOM@CONTOSO.EXAMPLE", "first_name": "Tom"}, "", NOW)

    assert result.outcome == "accepted" and result.created is False
    [contact] = all_contacts()
    assert contact.id == tom.id and contact.first_name == "Tom"


def test_enrolling_by_an_other_spelling_finds_the_contact(api, tom):
    workspace = db.session.get_one(Workspace, api.workspace_id)
    definition = {
        "name": "Hello",
        "steps": [{"id": "e1", "type": "email", "config": {"subject": "Hi", "body": "Hi"}}],
        "connections": [],
    }
    sequence = sequences.create_sequence(workspace, sequences.parse_input(definition))
    sequences.set_status(sequence, "activate", NOW)

    response = api.post(
        f"/api/sequences/{sequence.id}/enroll",
        json={"contacts": [{"email": "TOM@contoso.example"}]},
    )

    assert response.status_code in (200, 201), response.json
    assert db.session.scalar(select(ContactSequence.contact_id)) == tom.id


def test_the_database_refuses_a_second_spelling(api, tom):
    db.session.add(
        Contact(
            tenant_id=tom.tenant_id,
            workspace_id=tom.workspace_id,
            email="Tom@Contoso.example",
            fields={},
            tags=[],
        )
    )
    with pytest.raises(IntegrityError):
        db.session.flush()
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(Contact)) == 1
