"""CSV imports: good rows created, existing contacts updated, bad rows reported by line
and field, suppressed addresses kept suppressed, progress chunk by chunk, the chosen static
segment filled. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import Contact, ContactImport, SegmentMembership, Suppression, Workspace
from app.services import accounts, contact_import, contacts, segments
from app.services.suppression import suppress

NOW = datetime(2026, 12, 7, 14, 0, tzinfo=UTC)
CSV = """email,First Name,last_name,timezone,tags,plan
ada@example.com,Ada,Lovelace,Europe/London,vip; beta,trial
not-an-email,Bad,Row,UTC,,free
gone@example.com,Gone,,,,
bob@example.com,Bob,,Mars/Olympus,,
dana@example.com,,Dana-Updated,,newsletter,pro

eve@example.com,Eve,,America/New_York,,
"""


@pytest.fixture
def acme(app) -> Workspace:
    workspace = accounts.create_workspace("Acme")
    dana = {"email": "dana@example.com", "first_name": "Dana", "tags": ["old"]}
    contacts.upsert_contact(workspace, {**dana, "fields": {"plan": "free", "seats": 3}})
    suppress(workspace.id, "GONE@example.com", "unsubscribed", NOW - timedelta(days=30))
    db.session.commit()
    return workspace


def by_email() -> dict[str, Contact]:
    return {c.email: c for c in db.session.scalars(select(Contact))}


def run_all(chunk: int, now: datetime = NOW) -> list[int]:
    taken = []
    while (rows := contact_import.process_pending(now, chunk=chunk)) > 0:
        taken.append(rows)
    return taken


def test_a_csv_is_imported_with_a_per_row_error_report(acme):
    job = contact_import.start_import(acme, "people.csv", CSV, None)
    assert (job.status, job.total_rows, job.processed_rows) == ("pending", 6, 0)

    assert run_all(chunk=1000) == [6]

    db.session.expire_all()
    job = db.session.get(ContactImport, job.id)
    assert job.status == "done" and job.finished_at == NOW and job.content == ""
    assert (job.processed_rows, job.created_count, job.updated_count) == (6, 3, 1)
    assert job.suppressed_count == 1
    assert job.errors == [
        {"row": 3, "field": "email", "message": "'not-an-email' is not an email address"},
        {
            "row": 5,
            "field": "timezone",
            "message": "'Mars/Olympus' is not an IANA time zone such as 'Europe/Paris'",
        },
    ]
    people = by_email()
    assert set(people) == {
        "ada@example.com",
        "gone@example.com",
        "dana@example.com",
        "eve@example.com",
    }
    ada = people["ada@example.com"]
    assert (ada.first_name, ada.last_name, ada.timezone) == ("Ada", "Lovelace", "Europe/London")
    assert ada.tags == ["beta", "vip"] and ada.fields == {"plan": "trial"}
    dana = people["dana@example.com"]
    assert (dana.first_name, dana.last_name) == ("Dana", "Dana-Updated")
    assert dana.fields == {"plan": "pro", "seats": 3}
    assert dana.tags == ["newsletter", "old"]
    # the suppressed address stays suppressed and is imported as unsubscribed
    assert people["gone@example.com"].unsubscribed_at == NOW
    assert people["ada@example.com"].unsubscribed_at is None
    assert db.session.scalars(select(Suppression.email)).all() == ["gone@example.com"]


def test_chunks_show_progress_then_finish(acme):
    job = contact_import.start_import(acme, "people.csv", CSV, None)
    assert contact_import.process_pending(NOW, chunk=4) == 4
    db.session.expire_all()
    first = db.session.get(ContactImport, job.id)
    assert (first.status, first.processed_rows, first.total_rows) == ("running", 4, 6)
    assert first.content == CSV and len(first.errors) == 2
    assert set(by_email()) == {"ada@example.com", "gone@example.com", "dana@example.com"}

    assert contact_import.process_pending(NOW + timedelta(seconds=2), chunk=4) == 2
    assert contact_import.process_pending(NOW + timedelta(seconds=4), chunk=4) == 0
    db.session.expire_all()
    done = db.session.get(ContactImport, job.id)
    assert (done.status, done.processed_rows, done.created_count, done.updated_count) == (
        "done",
        6,
        3,
        1,
    )
    assert "eve@example.com" in by_email()


def test_an_import_fills_a_static_segment_and_rule_segments_follow(acme):
    vip = segments.create_segment(acme, "Imported", "static", None, NOW)
    trials = segments.create_segment(
        acme,
        "Trials",
        "rule",
        {"type": "field", "field": "plan", "op": "eq", "value": "trial"},
        NOW,
    )
    contact_import.start_import(acme, "people.csv", CSV, None, segment_id=vip.id)
    run_all(chunk=2)

    members = db.session.execute(
        select(SegmentMembership.segment_id, Contact.email).join(
            Contact, Contact.id == SegmentMembership.contact_id
        )
    ).all()
    assert {e for s, e in members if s == vip.id} == {
        "ada@example.com",
        "gone@example.com",
        "dana@example.com",
        "eve@example.com",
    }
    assert {e for s, e in members if s == trials.id} == {"ada@example.com"}


@pytest.mark.parametrize(
    ("text", "field", "words"),
    [
        ("name,plan\nAda,trial\n", "file", "needs an 'email' column"),
        ("", "file", "the file is empty"),
        ("email,email\na@b.co,a@b.co\n", "file", "appears twice"),
        ("email,,plan\na@b.co,,x\n", "file", "column 2 has no name"),
        ("email\n\n\n", "file", "no rows below its header"),
    ],
)
def test_an_unusable_file_is_refused_at_upload(acme, text, field, words):
    with pytest.raises(contact_import.ContactImportError) as error:
        contact_import.start_import(acme, "bad.csv", text, None)
    assert error.value.field == field and words in str(error.value)
    assert db.session.scalars(select(ContactImport)).all() == []


def test_the_segment_must_be_a_static_one_of_the_workspace(acme):
    other = accounts.create_workspace("Other")
    theirs = segments.create_segment(other, "Theirs", "static", None, NOW)
    rule = segments.create_segment(acme, "Rule", "rule", {"type": "tag", "tag": "x"}, NOW)
    for segment_id in (theirs.id, rule.id):
        with pytest.raises(contact_import.ContactImportError) as error:
            contact_import.start_import(acme, "a.csv", "email\na@b.co\n", None, segment_id)
        assert error.value.field == "segment"


def test_imports_are_taken_oldest_first_and_only_their_workspace_is_written(acme):
    other = accounts.create_workspace("Other")
    contact_import.start_import(acme, "a.csv", "email\nada@example.com\n", None)
    contact_import.start_import(other, "b.csv", "email\nada@example.com\nzed@example.com\n", None)
    assert contact_import.process_pending(NOW) == 1
    assert contact_import.process_pending(NOW) == 2
    owners = db.session.execute(select(Contact.email, Contact.workspace_id)).all()
    assert sorted(owners) == sorted(
        [
            ("ada@example.com", acme.id),
            ("dana@example.com", acme.id),
            ("ada@example.com", other.id),
            ("zed@example.com", other.id),
        ]
    )
