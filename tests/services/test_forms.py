"""Hosted forms as a service: a submission upserts the contact, records `form_submitted`,
logs itself and enrolls through the form trigger once; honeypot, rate limit and validation
stop bad ones before anything is stored. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, update

from app.extensions import db
from app.models import (
    Contact,
    ContactEvent,
    ContactSequence,
    Form,
    FormSubmission,
    Sequence,
    Suppression,
    Workspace,
)
from app.services import accounts, forms, sequences
from app.services.clients import client_hash
from app.services.suppression import suppress

T0 = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)

EBOOK_SEQUENCE: dict[str, Any] = {
    "format": "sequence/v1",
    "name": "Ebook follow-up",
    "trigger": {"type": "form_submission", "form": "Ebook Download"},
    "re_enrollment": {"mode": "never"},
    "steps": [
        {
            "id": "email_1",
            "type": "email",
            "name": "The ebook",
            "config": {
                "subject": "Here is your ebook",
                "body": '<p>Hi {{ contact.first_name or "there" }}, here it is.</p>'
                '<p><a href="{{ unsubscribe_url }}">Unsubscribe</a></p>',
            },
        },
        {"id": "wait_2d", "type": "delay", "config": {"duration": "2 days"}},
        {
            "id": "email_2",
            "type": "email",
            "name": "Did you read it?",
            "config": {
                "subject": "Did you read it?",
                "body": "<p>Any questions?</p>"
                '<p><a href="{{ unsubscribe_url }}">Unsubscribe</a></p>',
            },
        },
    ],
    "connections": [
        {"source": "email_1", "target": "wait_2d"},
        {"source": "wait_2d", "target": "email_2"},
    ],
}


def ebook_sequence(workspace: Workspace, now: datetime = T0) -> Sequence:
    """The active "Ebook Download" sequence, through the same services as the API."""
    sequence = sequences.create_sequence(workspace, sequences.parse_input(EBOOK_SEQUENCE))
    return sequences.set_status(sequence, "activate", now)


@pytest.fixture
def ebook(app) -> Form:
    workspace = accounts.create_workspace("Acme")
    ebook_sequence(workspace)
    [form] = forms.ensure_forms_for_workspace(workspace.id)
    return form


def count(model: Any, *criteria: Any) -> int:
    return db.session.scalar(select(func.count()).select_from(model).where(*criteria))


def outcomes() -> list[str]:
    return list(db.session.scalars(select(FormSubmission.outcome).order_by(FormSubmission.id)))


def test_ensure_forms_makes_one_unguessable_form_per_form_trigger(app):
    workspace = accounts.create_workspace("Acme")
    ebook_sequence(workspace)
    other = sequences.create_sequence(
        workspace, sequences.parse_input({**EBOOK_SEQUENCE, "name": "Copy"})
    )
    assert other.status == "draft"

    first = forms.ensure_forms_for_workspace(workspace.id)
    again = forms.ensure_forms_for_workspace(workspace.id)

    assert [f.name for f in first] == ["Ebook Download"]
    assert [f.id for f in again] == [first[0].id]
    form = first[0]
    assert len(form.public_id) >= 16 and form.public_id.replace("-", "").replace("_", "").isalnum()
    assert [f["name"] for f in form.fields] == ["email", "first_name"]
    assert form.fields[0]["required"] is True
    assert forms.ensure_form(workspace.id, workspace.tenant_id, "Ebook Download").id == form.id
    other_ws = accounts.create_workspace("Globex")
    assert forms.ensure_forms_for_workspace(other_ws.id) == []
    assert forms.get_public(form.public_id).id == form.id
    assert forms.get_public("nope") is None


def test_a_submission_creates_the_contact_records_the_event_and_enrolls(app, ebook):
    result = forms.submit(
        ebook, {"email": " Ada@Example.COM ", "first_name": "Ada"}, "203.0.113.5", T0
    )

    assert result.outcome == "accepted" and result.created is True
    contact = db.session.scalar(select(Contact))
    assert (contact.email, contact.first_name) == ("Ada@example.com", "Ada")
    event = db.session.scalar(select(ContactEvent))
    assert (event.type, event.source, event.contact_id) == ("form_submitted", "form", contact.id)
    assert event.properties == {
        "form": "Ebook Download",
        "fields": {"email": "Ada@example.com", "first_name": "Ada"},
    }
    log = db.session.scalar(select(FormSubmission))
    assert (log.outcome, log.contact_id, log.submitted_at) == ("accepted", contact.id, T0)
    assert log.ip_hash == client_hash("203.0.113.5") and "203.0.113.5" not in log.ip_hash
    enrollment = db.session.scalar(select(ContactSequence))
    assert enrollment.contact_id == contact.id and enrollment.status == "active"
    assert "Ebook Download" in enrollment.enroll_reason
    assert enrollment.context_data["trigger"]["form"] == "Ebook Download"
    assert result.enrolled_in == [enrollment.sequence_id]


def test_resubmitting_updates_the_contact_and_does_not_enroll_twice(app, ebook):
    forms.submit(ebook, {"email": "ada@example.com", "first_name": "Ada"}, "203.0.113.5", T0)
    later = T0 + timedelta(minutes=1)
    again = forms.submit(
        ebook, {"email": "ada@example.com", "first_name": "Ada L."}, "203.0.113.5", later
    )

    assert again.outcome == "accepted" and again.created is False and again.enrolled_in == []
    assert count(Contact) == 1
    assert db.session.scalar(select(Contact.first_name)) == "Ada L."
    assert count(ContactEvent, ContactEvent.type == "form_submitted") == 2
    assert count(ContactSequence) == 1
    assert outcomes() == ["accepted", "accepted"]


def test_an_empty_optional_field_does_not_clear_what_the_contact_has(app, ebook):
    forms.submit(ebook, {"email": "ada@example.com", "first_name": "Ada"}, "203.0.113.5", T0)
    forms.submit(ebook, {"email": "ada@example.com", "first_name": ""}, "203.0.113.5", T0)
    assert db.session.scalar(select(Contact.first_name)) == "Ada"


def test_the_honeypot_looks_accepted_but_stores_nothing(app, ebook):
    data = {"email": "bot@spam.test", "first_name": "Bot", forms.HONEYPOT: "http://spam.test"}
    result = forms.submit(ebook, data, "198.51.100.7", T0)

    assert result.outcome == "honeypot"
    assert count(Contact) == 0 and count(ContactEvent) == 0 and count(ContactSequence) == 0
    assert outcomes() == []


def test_the_sixth_submission_from_one_ip_within_ten_minutes_is_rate_limited(app, ebook):
    for i in range(5):
        data = {"email": f"person{i}@example.com"}
        assert forms.submit(ebook, data, "198.51.100.7", T0 + timedelta(minutes=i)).outcome == (
            "accepted"
        )

    sixth = forms.submit(
        ebook, {"email": "six@example.com"}, "198.51.100.7", T0 + timedelta(minutes=9)
    )
    other_ip = forms.submit(
        ebook, {"email": "seven@example.com"}, "198.51.100.8", T0 + timedelta(minutes=9)
    )
    after_window = forms.submit(
        ebook, {"email": "eight@example.com"}, "198.51.100.7", T0 + timedelta(minutes=10, seconds=1)
    )

    assert sixth.outcome == "rate_limited"
    assert other_ip.outcome == "accepted"
    assert after_window.outcome == "accepted"  # the first of the five has left the window
    emails = set(db.session.scalars(select(Contact.email)))
    assert "six@example.com" not in emails and {"seven@example.com", "eight@example.com"} <= emails
    assert outcomes() == ["accepted"] * 7  # the refused one left no row
    assert count(ContactSequence) == 7


def test_a_bad_email_names_the_field_and_stores_nothing(app, ebook):
    result = forms.submit(ebook, {"email": "not-an-email", "first_name": "X"}, "203.0.113.5", T0)
    missing = forms.submit(ebook, {"first_name": "X"}, "203.0.113.5", T0)

    assert result.outcome == "invalid" and "valid email" in result.errors["email"]
    assert result.values["first_name"] == "X"
    assert missing.errors == {"email": "Email is required"}
    assert count(Contact) == 0 and count(ContactEvent) == 0 and count(FormSubmission) == 0


def test_a_suppressed_address_stays_suppressed_and_is_not_enrolled(app, ebook):
    workspace_id = ebook.workspace_id
    forms.submit(ebook, {"email": "ada@example.com"}, "203.0.113.5", T0)
    db.session.execute(
        update(ContactSequence).values(status="exited", finished_at=T0, exit_reason="test")
    )
    db.session.execute(update(Contact).values(unsubscribed_at=T0))
    suppress(workspace_id, "bob@example.com", "bounced", T0)
    db.session.commit()

    ada = forms.submit(ebook, {"email": "ada@example.com"}, "203.0.113.5", T0)
    bob = forms.submit(ebook, {"email": "bob@example.com"}, "203.0.113.5", T0)

    assert ada.outcome == bob.outcome == "accepted"
    assert ada.enrolled_in == bob.enrolled_in == []
    assert (
        db.session.scalar(select(Contact.unsubscribed_at).where(Contact.email == "ada@example.com"))
        == T0
    )
    assert db.session.scalar(select(Suppression.reason)) == "bounced"
    assert count(ContactSequence, ContactSequence.status == "active") == 0


def test_custom_fields_are_stored_on_the_contact(app, ebook):
    fields = [*ebook.fields, {"name": "company", "label": "Company", "type": "text"}]
    forms.update_form(ebook, {"fields": fields})
    forms.submit(ebook, {"email": "ada@example.com", "company": "Analytical"}, "203.0.113.5", T0)
    assert db.session.scalar(select(Contact.fields)) == {"company": "Analytical"}


def test_update_form_refuses_bad_settings_and_saves_nothing(app, ebook):
    with pytest.raises(forms.FormError) as refused:
        forms.update_form(
            ebook,
            {
                "redirect_url": "javascript:alert(1)",
                "success_message": "Thanks",
                "fields": [{"name": "first_name", "label": "", "type": "text"}],
            },
        )
    assert set(refused.value.errors) == {"redirect_url", "fields", "fields.0.label"}
    db.session.expire_all()
    assert forms.settings_of(ebook)["redirect_url"] == ""
    assert [f["name"] for f in ebook.fields] == ["email", "first_name"]

    forms.update_form(
        ebook, {"redirect_url": "https://example.com/thanks", "success_message": "Enjoy!"}
    )
    db.session.expire_all()
    assert forms.settings_of(ebook) == {
        "redirect_url": "https://example.com/thanks",
        "success_message": "Enjoy!",
    }
    with pytest.raises(forms.FormError) as reserved:
        forms.update_form(
            ebook, {"fields": [*ebook.fields, {"name": "website", "label": "Site", "type": "text"}]}
        )
    assert "reserved" in reserved.value.errors["fields.2.name"]
