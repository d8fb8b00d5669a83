"""Custom fields of each type on a hosted form: number, date-time in a named zone, select,
and hidden with a fixed value. Each is checked when the form is set up (naming the field)
and when a visitor submits, and stored typed on the contact and in the enrollment's
trigger. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import Contact, ContactSequence
from app.services import forms
from tests.services.test_forms import T0, ebook  # noqa: F401 - the fixture

BASE = [
    {"name": "email", "label": "Email", "type": "email", "required": True},
    {"name": "first_name", "label": "First name", "type": "text", "required": False},
]
CUSTOM = [
    {"name": "seats", "label": "Seats", "type": "number", "required": True},
    {"name": "call_at", "label": "Call me at", "type": "datetime", "timezone": "Europe/Paris"},
    {"name": "plan", "label": "Plan", "type": "select", "options": ["Starter", "Pro"]},
    {"name": "webinar_at", "label": "Webinar", "type": "hidden", "value": "2027-03-15T12:00-04:00"},
]


@pytest.fixture
def typed(ebook):  # noqa: F811 - the fixture above
    return forms.update_form(ebook, {"fields": BASE + CUSTOM})


def test_each_custom_field_type_is_stored_with_what_it_needs(typed):
    stored = {spec["name"]: spec for spec in typed.fields}
    assert stored["call_at"]["timezone"] == "Europe/Paris"
    assert stored["plan"]["options"] == ["Starter", "Pro"]
    assert stored["webinar_at"] == {
        "name": "webinar_at",
        "label": "Webinar",
        "type": "hidden",
        "required": False,
        "value": "2027-03-15T12:00-04:00",
    }


@pytest.mark.parametrize(
    ("spec", "key", "words"),
    [
        ({"type": "select", "options": []}, "fields.2.options", "one per line"),
        ({"type": "select", "options": ["A", "A"]}, "fields.2.options", "different choices"),
        ({"type": "datetime", "timezone": "Mars/Olympus"}, "fields.2.timezone", "time zone"),
        ({"type": "hidden", "value": " "}, "fields.2.value", "every submission carries"),
        ({"type": "colour"}, "fields.2.type", "choose one of"),
    ],
)
def test_a_custom_field_missing_what_its_type_needs_is_refused_by_key(ebook, spec, key, words):  # noqa: F811
    with pytest.raises(forms.FormError) as refused:
        forms.update_form(ebook, {"fields": [*BASE, {"name": "extra", "label": "Extra", **spec}]})
    assert words in refused.value.errors[key]


def test_a_submission_stores_typed_values_and_the_hidden_value_whatever_is_posted(typed):
    posted = {
        "email": "ada@example.com",
        "seats": "12",
        "call_at": "2027-03-29T09:30",  # the day after Paris springs forward: UTC+2
        "plan": "Pro",
        "webinar_at": "1999-01-01T00:00",  # a visitor cannot change a hidden field
    }
    result = forms.submit(typed, posted, "203.0.113.7", T0)
    assert result.outcome == "accepted", result.errors
    contact = db.session.scalar(select(Contact).where(Contact.email == "ada@example.com"))
    assert contact.fields == {
        "seats": 12,
        "call_at": "2027-03-29T09:30:00+02:00",
        "plan": "Pro",
        "webinar_at": "2027-03-15T12:00-04:00",
    }
    enrollment = db.session.scalar(select(ContactSequence))
    assert enrollment.context_data["trigger"]["properties"]["webinar_at"] == (
        "2027-03-15T12:00-04:00"
    )


def test_a_submission_with_a_bad_number_date_or_choice_names_each_field(typed):
    posted = {"email": "ada@example.com", "seats": "a few", "call_at": "soon", "plan": "Gold"}
    result = forms.submit(typed, posted, "203.0.113.7", T0)
    assert result.outcome == "invalid"
    assert result.errors == {
        "seats": "Seats: enter a number, such as 12 or 4.5",
        "call_at": "Call me at: enter a date and time, such as 2026-12-17 17:00",
        "plan": "Plan: choose one of Starter, Pro",
    }
    assert db.session.scalar(select(Contact)) is None
