"""Strict contact time zones at every way in: the API answers 422 naming `timezone` with a
suggestion, a CSV row with "EST" is a row error, and neither stores anything."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

from app.extensions import db
from app.models import Contact, ContactImport, Workspace
from app.services import contact_import

NOW = datetime(2026, 12, 7, 14, 0, tzinfo=UTC)
SUGGESTION = (
    "'EST' is not an IANA time zone such as 'Europe/Paris': did you mean 'America/New_York'?"
)


def test_the_api_refuses_est_naming_the_field_and_suggesting_new_york(api):
    response = api.post("/api/contacts", json={"email": "tom@example.com", "timezone": "EST"})

    assert response.status_code == 422
    assert response.json["error"]["field"] == "timezone"
    assert response.json["error"]["message"] == f"timezone: {SUGGESTION}"
    assert db.session.scalar(select(Contact)) is None

    created = api.post("/api/contacts", json={"email": "tom@example.com"}).json
    response = api.patch(f"/api/contacts/{created['id']}", json={"timezone": "UTC-5"})
    assert response.status_code == 422 and response.json["error"]["field"] == "timezone"
    assert "did you mean 'America/New_York'?" in response.json["error"]["message"]


def test_an_imported_row_with_est_is_a_row_error_with_the_suggestion(api):
    workspace = db.session.get_one(Workspace, api.workspace_id)
    csv = "email,timezone\ntom@example.com,EST\nann@example.com,Europe/Paris\n"
    job = contact_import.start_import(workspace, "people.csv", csv, None)
    while contact_import.process_pending(NOW, chunk=100):
        pass

    job = db.session.get_one(ContactImport, job.id)
    assert job.errors == [{"row": 2, "field": "timezone", "message": SUGGESTION}]
    assert [c.email for c in db.session.scalars(select(Contact))] == ["ann@example.com"]
