"""POST /api/events: one event or a batch, all or nothing, idempotent by the client's id."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import event as sa_event
from sqlalchemy import func, select, update

from app.extensions import db
from app.models import Contact, ContactEvent, ContactSequence, EventReceipt, Workspace
from app.services import contact_changes, contacts, enrollment, sequences
from app.services import events as event_service
from jobs.tasks import purge_event_receipts
from tests.conftest import api_for
from tests.helpers import tick

pytestmark = pytest.mark.local_time  # occurred_at parsed, refused when naive, compared with now

T0 = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def stored_events() -> list[ContactEvent]:
    db.session.expire_all()
    return list(db.session.scalars(select(ContactEvent).order_by(ContactEvent.id)))


def login(who: str = "ada@example.com", **extra) -> dict:
    return {"contact": {"email": who}, "event": "user_login", **extra}


def test_one_event_creates_its_contact_and_is_stored_as_sent(api):
    before = datetime.now(UTC)
    response = api.post(
        "/api/events",
        json=login(
            "Ada@Example.COM",
            properties={"plan": "pro", "seats": 3},
            occurred_at="2026-11-27T09:30:00+02:00",
            id="evt-1",
        ),
    )
    assert response.status_code == 202, response.json
    [event] = stored_events()
    assert response.json == {
        "accepted": 1,
        "duplicates": 0,
        "events": [{"id": event.id, "client_id": "evt-1", "status": "stored"}],
    }
    contact = db.session.get_one(Contact, event.contact_id)
    assert contact.email == "Ada@example.com" and contact.workspace_id == api.workspace_id
    assert (event.type, event.source, event.properties) == (
        "user_login",
        "api",
        {"plan": "pro", "seats": 3},
    )
    assert event.occurred_at == datetime(2026, 11, 27, 7, 30, tzinfo=UTC)
    assert event.recorded_at >= before and event.workspace_id == api.workspace_id
    assert count(EventReceipt) == 1


def test_occurred_at_defaults_to_the_request_time_and_no_id_leaves_no_receipt(api):
    before = datetime.now(UTC)
    response = api.post("/api/events", json=login())
    assert response.json["events"] == [
        {"id": stored_events()[0].id, "client_id": None, "status": "stored"}
    ]
    [event] = stored_events()
    assert event.occurred_at == event.recorded_at and event.occurred_at >= before
    assert count(EventReceipt) == 0


def test_a_batch_names_contacts_by_email_or_id_and_answers_in_order(api):
    known = api.post("/api/contacts", json={"email": "known@example.com"}).json["id"]
    batch = [
        login("new@example.com", id="a"),
        {"contact": {"id": known}, "event": "visited_pricing", "properties": {"page": "/p"}},
        login("new@example.com", id="b"),
        {"contact": {"email": "known@example.com"}, "event": "user_login"},
    ]
    response = api.post("/api/events", json=batch)
    assert response.status_code == 202, response.json
    assert response.json["accepted"] == 4 and response.json["duplicates"] == 0
    rows = {e.id: e for e in stored_events()}
    answered = response.json["events"]
    assert [a["client_id"] for a in answered] == ["a", None, "b", None]
    assert [rows[a["id"]].type for a in answered] == [
        "user_login",
        "visited_pricing",
        "user_login",
        "user_login",
    ]
    emails = {c.id: c.email for c in db.session.scalars(select(Contact))}
    assert [emails[rows[a["id"]].contact_id] for a in answered] == [
        "new@example.com",
        "known@example.com",
        "new@example.com",
        "known@example.com",
    ]
    assert count(Contact) == 2  # the new email was created once
    wrapped = api.post("/api/events", json={"events": [login("w@example.com"), login()]})
    assert wrapped.status_code == 202 and wrapped.json["accepted"] == 2
    assert api.post("/api/events", json={"events": {}}).json["error"]["field"] == "events"


def test_a_contact_id_of_another_workspace_is_422_and_nothing_is_stored(app, api):
    theirs = api_for(app, "Globex").post("/api/contacts", json={"email": "g@example.com"}).json
    batch = [
        login("fresh@example.com", id="x"),
        login(),
        login(),
        {**login(), "contact": {"id": theirs["id"]}},
    ]
    response = api.post("/api/events", json=batch)
    assert response.status_code == 422, response.json
    assert response.json["error"]["field"] == "events[3].contact.id"
    assert count(ContactEvent) == 0 and count(EventReceipt) == 0
    assert count(Contact) == 1  # neither fresh@ nor ada@ was created


BAD = {
    "missing event name": ({"contact": {"email": "a@example.com"}}, "event"),
    "blank event name": (login(event="  "), "event"),
    "reserved event name": (login(event="field_changed"), "event"),
    "naive occurred_at": (login(occurred_at="2026-11-27T09:30:00"), "occurred_at"),
    "garbage occurred_at": (login(occurred_at="yesterday"), "occurred_at"),
    "numeric occurred_at": (login(occurred_at=1764000000), "occurred_at"),
    "occurred_at in the year 9999": (login(occurred_at="9999-12-31T23:59:59Z"), "occurred_at"),
    "occurred_at in the year 1": (login(occurred_at="0001-01-01T00:00:00+00:00"), "occurred_at"),
    "properties not an object": (login(properties=["a"]), "properties"),
    "no contact": ({"event": "user_login"}, "contact"),
    "both email and id": (login(contact={"email": "a@example.com", "id": "x"}), "contact"),
    "bad email": (login("not-an-email"), "contact.email"),
    "bad contact id": (login(contact={"id": "not-a-uuid"}), "contact.id"),
    "id too long": (login(id="x" * 201), "id"),
    "id not a string": (login(id=42), "id"),
    "event name with a tab": (login(event="user\tlogin"), "event"),
    "event name with a line separator": (login(event="user\u2028login"), "event"),
    "event name with a NEL": (login(event="user\x85login"), "event"),
    "id with a line break": (login(id="abc\n1"), "id"),
    "id with a paragraph separator": (login(id="abc\u20291"), "id"),
}


@pytest.mark.parametrize("case", BAD)
def test_an_invalid_event_is_422_naming_the_field_and_nothing_is_stored(api, case):
    event, field = BAD[case]
    single = api.post("/api/events", json=event)
    assert single.status_code == 422, single.json
    assert single.json["error"]["field"] == field and single.json["error"]["message"]
    batch = api.post("/api/events", json=[login(id="ok"), login(), event])
    assert batch.status_code == 422
    assert batch.json["error"]["field"] == f"events[2].{field}"
    assert count(ContactEvent) == 0 and count(EventReceipt) == 0 and count(Contact) == 0


def test_batches_are_capped_and_must_hold_events(api):
    too_many = api.post("/api/events", json=[login()] * 1001)
    assert too_many.status_code == 422 and too_many.json["error"]["field"] == "events"
    assert api.post("/api/events", json=[]).status_code == 422
    assert api.post("/api/events", json=[login(), "nope"]).json["error"]["field"] == "events[1]"
    assert api.post("/api/events", json="nope").status_code == 400
    assert count(ContactEvent) == 0
    full = api.post(
        "/api/events", json=[login(f"p{i}@example.com", id=str(i)) for i in range(1000)]
    )
    assert full.status_code == 202 and full.json["accepted"] == 1000
    assert count(ContactEvent) == 1000 and count(EventReceipt) == 1000 and count(Contact) == 1000


def test_a_full_batch_takes_a_few_statements_not_one_per_event(api):
    statements: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    batch = [login(f"p{i}@example.com", id=f"c{i}", properties={"i": i}) for i in range(1000)]
    sa_event.listen(db.engine, "before_cursor_execute", record)
    try:
        stored = api.post("/api/events", json=batch)
        repeated = api.post("/api/events", json=batch)
    finally:
        sa_event.remove(db.engine, "before_cursor_execute", record)
    assert stored.json["accepted"] == 1000 and repeated.json["duplicates"] == 1000
    assert len(statements) < 30, statements
    rows = {e.id: e for e in stored_events()}
    assert [rows[a["id"]].properties["i"] for a in stored.json["events"]] == list(range(1000))
    assert [a["id"] for a in repeated.json["events"]] == [a["id"] for a in stored.json["events"]]


def test_the_same_id_and_payload_is_stored_once(api):
    event = login(id="evt-1", properties={"a": 1}, occurred_at="2026-11-27T09:30:00Z")
    first = api.post("/api/events", json=event).json
    again = api.post("/api/events", json=event)
    assert again.status_code == 202
    assert again.json == {
        "accepted": 0,
        "duplicates": 1,
        "events": [{"id": first["events"][0]["id"], "client_id": "evt-1", "status": "duplicate"}],
    }
    # the same instant in another offset, the same email in another case: the same event
    same = login(
        "ada@EXAMPLE.com", id="evt-1", properties={"a": 1}, occurred_at="2026-11-27T10:30:00+01:00"
    )
    assert api.post("/api/events", json=same).json["duplicates"] == 1
    assert count(ContactEvent) == 1 and count(EventReceipt) == 1


def test_a_repeat_inside_one_batch_is_a_duplicate_of_the_first(api):
    response = api.post("/api/events", json=[login(id="d"), login("b@example.com"), login(id="d")])
    events = response.json["events"]
    assert response.json["accepted"] == 2 and response.json["duplicates"] == 1
    assert events[2] == {"id": events[0]["id"], "client_id": "d", "status": "duplicate"}
    assert count(ContactEvent) == 2


def test_the_same_id_with_another_payload_is_409_and_nothing_of_it_is_stored(api):
    api.post("/api/events", json=login(id="evt-1", properties={"a": 1}))
    conflict = api.post(
        "/api/events",
        json=[login("new@example.com", id="fresh"), login(id="evt-1", properties={"a": 2})],
    )
    assert conflict.status_code == 409, conflict.json
    assert (
        conflict.json["error"]["field"] == "events[1].id"
        and "evt-1" in conflict.json["error"]["message"]
    )
    inside = api.post("/api/events", json=[login(id="x"), login(id="x", event="logout")])
    assert inside.status_code == 409 and inside.json["error"]["field"] == "events[1].id"
    assert count(ContactEvent) == 1 and count(EventReceipt) == 1 and count(Contact) == 1


def test_an_id_older_than_24_hours_stores_a_new_event(api):
    api.post("/api/events", json=login(id="evt-1"))
    db.session.execute(
        update(EventReceipt).values(received_at=datetime.now(UTC) - timedelta(hours=25))
    )
    db.session.commit()
    # even with another payload: the old receipt no longer counts
    again = api.post("/api/events", json=login(id="evt-1", properties={"v": 2}))
    assert again.status_code == 202 and again.json["accepted"] == 1
    _, second = stored_events()
    assert again.json["events"][0]["id"] == second.id and second.properties == {"v": 2}
    [receipt] = db.session.scalars(select(EventReceipt))
    assert receipt.event_id == second.id


def test_the_window_follows_the_given_now(app, api):
    workspace = db.session.get_one(Workspace, api.workspace_id)
    ingest = event_service.ingest_events
    assert ingest(workspace, login(id="e"), T0).accepted == 1
    assert ingest(workspace, login(id="e"), T0 + timedelta(hours=23, minutes=59)).duplicates == 1
    assert ingest(workspace, login(id="e"), T0 + timedelta(hours=24)).accepted == 1
    assert count(ContactEvent) == 2 and count(EventReceipt) == 1
    [receipt] = db.session.scalars(select(EventReceipt))
    assert receipt.received_at == T0 + timedelta(hours=24)


def test_ids_are_per_workspace(app, api):
    other = api_for(app, "Globex")
    assert api.post("/api/events", json=login(id="same")).json["accepted"] == 1
    assert (
        other.post("/api/events", json=login(id="same", properties={"x": 1})).json["accepted"] == 1
    )
    assert count(ContactEvent) == 2


def test_the_purge_job_deletes_receipts_older_than_a_day(app, api):
    workspace = db.session.get_one(Workspace, api.workspace_id)
    event_service.ingest_events(workspace, login(id="old"), T0)
    event_service.ingest_events(workspace, login(id="new"), T0 + timedelta(hours=20))
    message = purge_event_receipts(now=(T0 + timedelta(hours=25)).isoformat())
    assert message == "purged 1 event receipt(s), 0 tracking hit(s)"
    assert [r.client_event_id for r in db.session.scalars(select(EventReceipt))] == ["new"]
    assert count(ContactEvent) == 2  # events stay; only the idempotency memory goes


def test_stored_events_wake_waits_with_the_request_time_and_duplicates_do_not(app, api):
    waiting = wait_for_login(app, api, "ada@example.com")
    before = datetime.now(UTC)
    body = [login(id="w", properties={"n": 1}), login(id="w", properties={"n": 1})]
    assert api.post("/api/events", json=body).json["accepted"] == 1
    db.session.refresh(waiting)
    woken_at = waiting.next_execution_at
    assert before <= woken_at == stored_events()[0].recorded_at  # due at the request time
    assert api.post("/api/events", json=login(id="w", properties={"n": 1})).json["duplicates"]
    db.session.refresh(waiting)
    assert waiting.next_execution_at == woken_at  # the duplicate woke nothing


WAIT_FOR_LOGIN = {
    "format": "sequence/v1",
    "name": "Come back",
    "trigger": {"type": "manual"},
    "steps": [
        {
            "id": "wait",
            "type": "wait_until",
            "config": {"conditions": [{"event": "user_login", "timeout": "7 days"}]},
        },
        {"id": "back", "type": "end"},
        {"id": "gone", "type": "end"},
    ],
    "connections": [
        {"source": "wait", "target": "back", "label": "met"},
        {"source": "wait", "target": "gone", "label": "timeout"},
    ],
}


def wait_for_login(app, api, who: str, at: datetime = T0) -> ContactSequence:
    """An enrollment of `who` asleep since `at` at a wait for `user_login` (seven days)."""
    response = api.post("/api/sequences", json=WAIT_FOR_LOGIN)
    assert response.status_code == 201, response.json
    created = response.json["id"]
    assert api.post(f"/api/sequences/{created}/activate").status_code == 200
    workspace = db.session.get_one(Workspace, api.workspace_id)
    sequence = sequences.get_sequence(workspace.id, uuid.UUID(created))
    contact = contacts.upsert_contact(workspace, {"email": who})[0]
    enrollment.enroll_contacts(sequence, [contact], at)
    tick(app, at)
    waiting = db.session.scalar(select(ContactSequence))
    assert waiting.status == "active" and waiting.next_execution_at > at + timedelta(days=6)
    return waiting


def test_the_events_api_needs_a_token(app):
    client = app.test_client()
    assert client.post("/api/events", json=login()).status_code == 401
    wrong = client.post("/api/events", json=login(), headers={"Authorization": "Bearer pm_nope"})
    assert wrong.status_code == 401
    assert count(ContactEvent) == 0


def test_a_receipt_inserted_concurrently_makes_the_retry_find_it(pg_app, monkeypatch):
    """The general path (SQLite; PostgreSQL's fallback): another request stores the same id
    between our lookup and our insert: the unique constraint refuses ours, and the one
    retry answers `duplicate` without a second event."""
    monkeypatch.setattr(event_service, "_in_one_statement", lambda *args: None)
    api = api_for(pg_app, "Racer")
    workspace = db.session.get_one(Workspace, api.workspace_id)
    body = login(id="race", properties={"n": 1})
    digest = event_service.parse_events(body, T0)[0].payload_hash
    original = contact_changes._drop_repeats
    calls = []

    def racing(rows, receipts, now):
        found = original(rows, receipts, now)
        calls.append(len(found[0]))
        if len(calls) == 1:
            with db.engine.begin() as other:  # the other request, on its own connection
                other.execute(
                    EventReceipt.__table__.insert().values(
                        tenant_id=workspace.tenant_id,
                        workspace_id=workspace.id,
                        client_event_id="race",
                        payload_hash=digest,
                        event_id=None,
                        received_at=datetime.now(UTC),
                    )
                )
        return found

    monkeypatch.setattr(contact_changes, "_drop_repeats", racing)
    response = api.post("/api/events", json=body)
    assert response.status_code == 202, response.json
    assert response.json["events"] == [{"id": None, "client_id": "race", "status": "duplicate"}]
    assert calls == [1, 0]  # first attempt meant to store it, the retry found the receipt
    assert count(ContactEvent) == 0 and count(EventReceipt) == 1


def test_an_events_payload_hash_stays_what_receipts_already_hold():
    """A client's retry is compared with the hash its first sending left for a day, across
    deploys: the canonical text (sorted keys, no spaces, UTC time, text unescaped) is fixed."""
    body = {
        "contact": {"email": "A@x.io"},
        "event": "é ü",
        "properties": {"b": [1, 2.5, "ünï"], "a": {"z": None, "y": True}},
        "occurred_at": "2026-01-01T10:00:00+02:00",
        "id": "k",
    }
    by_id = {"contact": {"id": "6f1c3a5e-1111-4222-8333-444455556666"}, "event": "x"}
    first, second = event_service.parse_events([body, by_id], T0)
    assert first.payload_hash == "503b1ce416b2ca2e65314b79b5ac2cb2a2165b6feaf43a34f0ce87f9bb731603"
    assert second.payload_hash == "f9df991f6b433287d49103fa0eb7e4208a159702818887a186388f560c3d495d"
