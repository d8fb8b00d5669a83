"""CSV imports: good rows created, existing contacts updated, bad rows reported by line
and field, suppressed addresses kept suppressed, progress chunk by chunk, the chosen static
segment filled, changed custom fields recorded as events that end waits and convert goals
at once. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import (
    Contact,
    ContactEvent,
    ContactImport,
    ContactSequence,
    Conversion,
    OutboundMessage,
    SegmentMembership,
    SequenceStep,
    StepLog,
    Suppression,
    Workspace,
)
from app.services import accounts, contact_import, contacts, enrollment, segments, sequences
from app.services.scheduling import run_processor
from app.services.suppression import suppress
from tests.services.test_goals import BOOKED, journey

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


NOT_AN_EMAIL = "'not-an-email' is not an email address: an email address must have an @-sign"


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
        {"row": 3, "field": "email", "message": NOT_AN_EMAIL},
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


# --- Field changes ---------------------------------------------------------------------------


def field_events() -> list[tuple[str, str, dict, str, datetime]]:
    db.session.expire_all()
    rows = db.session.execute(
        select(Contact.email, ContactEvent.type, ContactEvent.properties, ContactEvent.source)
        .add_columns(ContactEvent.occurred_at)
        .join(Contact, Contact.id == ContactEvent.contact_id)
        .order_by(ContactEvent.id)
    )
    return [tuple(row) for row in rows]


def import_now(workspace: Workspace, text: str, now: datetime) -> None:
    contact_import.start_import(workspace, "update.csv", text, None)
    assert run_all(chunk=1000, now=now)


def test_changed_custom_fields_of_existing_contacts_are_recorded_as_events(acme):
    later = NOW + timedelta(hours=1)
    import_now(acme, CSV, later)
    # dana's plan changed; her seats were not in the file; new contacts record nothing
    change = {"field": "plan", "from": "free", "to": "pro"}
    assert field_events() == [("dana@example.com", "field_changed", change, "import", later)]

    again = "email,plan,seats,region\ndana@example.com,pro,3,\nada@example.com,trial,,EU\n"
    import_now(acme, again, later + timedelta(hours=1))
    recorded = field_events()[1:]
    assert sorted((e[0], e[2]["field"], e[2]["from"], e[2]["to"]) for e in recorded) == [
        ("ada@example.com", "region", None, "EU"),
        ("dana@example.com", "seats", 3, "3"),  # the text "3" replaces the number 3
    ]
    assert {e[3] for e in recorded} == {"import"}
    assert by_email()["dana@example.com"].fields == {"plan": "pro", "seats": "3"}


def launch_for(workspace: Workspace, definition: dict, emails: list[str]) -> uuid.UUID:
    """Activate the sequence and enroll these existing contacts at NOW."""
    sequence = sequences.create_sequence(workspace, sequences.parse_input(definition))
    sequences.set_status(sequence, "activate", NOW)
    people = list(contacts.contacts_by_email(workspace.id, emails).values())
    assert len(enrollment.enroll_contacts(sequence, people, NOW).enrolled) == len(emails)
    return sequence.id


def enrollment_of(sequence_id: uuid.UUID) -> ContactSequence:
    db.session.expire_all()
    return db.session.scalar(
        select(ContactSequence).where(ContactSequence.sequence_id == sequence_id)
    )


def step_key(step_id: uuid.UUID | None) -> str | None:
    return db.session.scalar(select(SequenceStep.key).where(SequenceStep.id == step_id))


def test_an_import_changing_a_field_ends_the_wait_for_it(acme):
    definition = {
        "format": "sequence/v1",
        "name": "Waiting for the deal",
        "trigger": {"type": "manual"},
        "steps": [
            {"id": "hello", "type": "email", "config": {"subject": "Hi", "body": "<p>.</p>"}},
            {
                "id": "wait",
                "type": "wait_until",
                "config": {"conditions": [{"field": "deal_stage", "timeout": "7 days"}]},
            },
            {"id": "booked", "type": "email", "config": {"subject": "Booked", "body": "<p>.</p>"}},
            {"id": "done", "type": "end"},
        ],
        "connections": [
            {"source": "hello", "target": "wait"},
            {"source": "wait", "target": "booked", "label": "met"},
            {"source": "wait", "target": "done", "label": "timeout"},
        ],
    }
    sequence_id = launch_for(acme, definition, ["dana@example.com"])
    run_processor(NOW)
    waiting = enrollment_of(sequence_id)
    wait_step, enrollment_id = waiting.current_step_id, waiting.id
    assert step_key(wait_step) == "wait"
    assert waiting.next_execution_at == NOW + timedelta(days=7)

    later = NOW + timedelta(hours=2)
    import_now(acme, "email,deal_stage\ndana@example.com,Meeting Booked\n", later)
    assert enrollment_of(sequence_id).next_execution_at == later  # woken by the import

    run_processor(later)
    outcome = db.session.scalar(
        select(StepLog.outcome).where(
            StepLog.enrollment_id == enrollment_id, StepLog.step_id == wait_step
        )
    )
    assert outcome == "met"
    queued = db.session.scalars(
        select(SequenceStep.key).join(OutboundMessage, OutboundMessage.step_id == SequenceStep.id)
    )
    assert sorted(queued) == ["booked", "hello"]


def test_an_import_converts_a_field_change_goal_at_once(acme):
    sequence_id = launch_for(acme, journey("Sales Follow-up", [BOOKED]), ["dana@example.com"])
    run_processor(NOW)
    assert step_key(enrollment_of(sequence_id).current_step_id) == "wait_3d"

    later = NOW + timedelta(hours=2)
    import_now(acme, "email,deal_stage\ndana@example.com,Meeting Booked\n", later)

    ended = enrollment_of(sequence_id)
    assert (ended.status, ended.exit_reason) == ("exited", "goal 'Booked Meeting' reached")
    [conversion] = db.session.scalars(select(Conversion)).all()
    assert (conversion.goal, conversion.enrollment_id, conversion.source) == (
        "Booked Meeting",
        ended.id,
        "event",
    )
    assert conversion.converted_at == later
