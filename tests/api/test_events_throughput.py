"""The events API's fast path: the token trusted for a few seconds (never longer), one
statement per request on PostgreSQL, and the reactions other than the wait wake-up queued
for the processor's next pass (which wakes the waits again, should a request die)."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import psycopg
import pytest
from sqlalchemy import event as sa_event
from sqlalchemy import func, select, text, update

from app.extensions import db
from app.models import (
    ApiToken,
    Contact,
    ContactEvent,
    ContactSequence,
    EventReaction,
    EventReceipt,
    Workspace,
)
from app.services import accounts, events_postgres
from app.services import events as event_service
from tests.api.test_events import T0, wait_for_login
from tests.conftest import api_for
from tests.helpers import tick
from tests.planner_statistics import analyzed_empty, statistics_kept

LOGIN = {"contact": {"email": "ada@example.com"}, "event": "user_login"}


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def later(monkeypatch, seconds: float) -> None:
    """The token cache's clock, `seconds` from now."""
    moment = time.monotonic() + seconds
    monkeypatch.setattr(accounts, "time", SimpleNamespace(monotonic=lambda: moment))


def test_a_token_revoked_elsewhere_stops_working_within_the_cache_bound(api, monkeypatch):
    assert api.post("/api/events", json=LOGIN).status_code == 202  # checked and trusted
    db.session.execute(update(ApiToken).values(revoked_at=datetime.now(UTC)))
    db.session.commit()  # as another process (a worker, the CLI elsewhere) revokes it
    later(monkeypatch, accounts.TOKEN_CACHE_SECONDS - 1)
    assert api.post("/api/events", json=LOGIN).status_code == 202  # still within the bound
    later(monkeypatch, accounts.TOKEN_CACHE_SECONDS + 0.01)
    refused = api.post("/api/events", json=LOGIN)
    assert refused.status_code == 401
    assert refused.json["error"]["message"] == "this API token was revoked"


def test_a_token_revoked_in_this_process_stops_at_once(api):
    assert api.post("/api/events", json=LOGIN).status_code == 202
    record = db.session.scalar(select(ApiToken))
    assert accounts.revoke_token(record, datetime.now(UTC))
    assert api.post("/api/events", json=LOGIN).status_code == 401


def test_a_wrong_token_is_never_trusted(app, api):
    client = app.test_client()
    wrong = {"Authorization": "Bearer pm_wrong"}
    for _ in range(2):
        assert client.post("/api/events", json=LOGIN, headers=wrong).status_code == 401
    assert count(ContactEvent) == 0


def statements_of(send) -> list[str]:
    """What the driver sent: SQLAlchemy's statements and those run by the driver itself."""
    seen: list[str] = []
    execute = psycopg.Cursor.execute

    def record(cursor, query, *args, **kwargs):
        seen.append(" ".join(str(query).split())[:60])
        return execute(cursor, query, *args, **kwargs)

    psycopg.Cursor.execute = record  # type: ignore[method-assign]
    try:
        assert send().status_code == 202
    finally:
        psycopg.Cursor.execute = execute  # type: ignore[method-assign]
    return seen


def test_a_request_takes_one_statement_on_postgresql(pg_app):
    """Contacts found or created, receipts checked, events + receipts + queued reactions
    inserted and the waiting enrollments read, in one statement in autocommit: no token,
    workspace, trigger, goal or segment query, no BEGIN or COMMIT."""
    api = api_for(pg_app, "Fast")
    api.post("/api/events", json=LOGIN)  # the token is checked once, then trusted
    db.session.commit()  # as every request begins: no transaction in the session
    body = {**LOGIN, "id": "evt-2", "properties": {"plan": "pro"}}
    assert len(statements_of(lambda: api.post("/api/events", json=body))) == 1
    new = [
        {"contact": {"email": "new@example.com"}, "event": "user_login", "id": "evt-3"},
        {**LOGIN, "id": "evt-2", "properties": {"plan": "pro"}},  # a duplicate
    ]
    assert len(statements_of(lambda: api.post("/api/events", json=new))) == 1
    assert count(ContactEvent) == 3 and count(EventReceipt) == 2 and count(EventReaction) == 3


def test_a_wake_up_lost_with_its_request_comes_from_the_reaction_pass(pg_app, monkeypatch):
    """The request's process dies after its statement, before the waiting enrollment is
    made due: the queued reaction makes it due in the processor's next pass."""
    api = api_for(pg_app, "Crashy")
    waiting = wait_for_login(pg_app, api, "ada@example.com")
    monkeypatch.setattr(events_postgres, "_wake", lambda *args: 0)
    assert api.post("/api/events", json=LOGIN).json["accepted"] == 1
    db.session.refresh(waiting)
    assert waiting.next_execution_at > T0 + timedelta(days=6)  # not woken
    now = datetime.now(UTC)
    assert event_service.react_to_stored(now) == 1
    db.session.refresh(waiting)
    assert waiting.next_execution_at == now


def test_a_pass_that_began_before_the_event_wakes_its_wait_only_as_of_the_event(app, api):
    """A pass at `now` reacting to an event recorded after `now` makes its wait due at the
    event's arrival, not at `now`: decided at `now` without the event, it would go back to
    sleep until its timeout."""
    waiting = wait_for_login(app, api, "ada@example.com", datetime.now(UTC) - timedelta(hours=1))
    assert api.post("/api/events", json=LOGIN).json["accepted"] == 1
    arrived = db.session.scalar(select(ContactEvent.recorded_at))
    tick(app, arrived - timedelta(seconds=1))  # a pass that began just before the event
    db.session.refresh(waiting)
    assert waiting.status == "active" and waiting.next_execution_at == arrived
    assert count(EventReaction) == 0  # reacted to, all the same
    tick(app, arrived + timedelta(seconds=1))
    db.session.refresh(waiting)
    assert waiting.status == "completed"


def test_an_id_stored_by_a_concurrent_request_during_the_statement_is_a_duplicate(pg_app):
    """Another transaction inserts the same id after our statement read the receipts: our
    receipt insert waits for it, then fails on the unique constraint; nothing of ours is
    kept and the general path answers `duplicate`."""
    api = api_for(pg_app, "Racer")
    api.post("/api/events", json=LOGIN)
    body = {**LOGIN, "id": "race"}
    workspace = db.session.get_one(Workspace, api.workspace_id)
    receipt = {
        "tenant_id": workspace.tenant_id,
        "workspace_id": workspace.id,
        "client_event_id": "race",
        "payload_hash": event_service.parse_events(body, T0)[0].payload_hash,
        "event_id": None,
        "received_at": datetime.now(UTC),
    }
    db.session.commit()
    answers = []

    def send() -> None:  # a request of its own, as in another gunicorn worker
        with pg_app.app_context():
            headers = {"Authorization": f"Bearer {api.token}"}
            answers.append(pg_app.test_client().post("/api/events", json=body, headers=headers))

    with db.engine.connect() as other:
        with other.begin():
            other.execute(EventReceipt.__table__.insert().values(**receipt))
            request = threading.Thread(target=send)
            request.start()
            assert blocked_on_a_lock(), "the request's statement never waited for the receipt"
        request.join(timeout=30)
    [answer] = answers
    assert answer.status_code == 202, answer.json
    assert answer.json["events"] == [{"id": None, "client_id": "race", "status": "duplicate"}]
    assert count(ContactEvent) == 1 and count(EventReaction) == 1  # the first LOGIN only


def blocked_on_a_lock() -> bool:
    """Whether a session of this database comes to wait on a lock within ten seconds."""
    waiting = text(
        "SELECT count(*) FROM pg_stat_activity "
        "WHERE datname = current_database() AND wait_event_type = 'Lock'"
    )
    deadline = time.monotonic() + 10
    with db.engine.connect() as conn:
        while time.monotonic() < deadline:
            if conn.execute(waiting).scalar_one():
                return True
            conn.rollback()
            time.sleep(0.02)
    return False


def test_stored_events_are_queued_for_reactions_and_repeats_are_not(api):
    body = [{**LOGIN, "id": "a"}, {**LOGIN, "id": "a"}, {**LOGIN, "event": "logout"}]
    assert api.post("/api/events", json=body).json["accepted"] == 2
    assert api.post("/api/events", json={**LOGIN, "id": "a"}).json["duplicates"] == 1
    queued = set(db.session.scalars(select(EventReaction.event_id)))
    assert queued == set(db.session.scalars(select(ContactEvent.id))) and len(queued) == 2


TRIGGERED = {
    "format": "sequence/v1",
    "name": "Welcome",
    "trigger": {"type": "api_event", "event": "signed_up"},
    "steps": [{"id": "e1", "type": "email", "config": {"subject": "Hi", "body": "<p>Hi</p>"}}],
    "connections": [],
}


def test_the_processor_pass_enrolls_through_triggers_and_empties_the_queue(app, api):
    seq = api.post("/api/sequences", json=TRIGGERED).json["id"]
    assert api.post(f"/api/sequences/{seq}/activate").status_code == 200
    people = [{"contact": {"email": f"p{i}@example.com"}, "event": "signed_up"} for i in range(5)]
    assert api.post("/api/events", json=people).json["accepted"] == 5
    assert count(ContactSequence) == 0 and count(EventReaction) == 5
    tick(app, datetime.now(UTC))
    assert count(ContactSequence) == 5 and count(EventReaction) == 0


def test_a_claimed_batch_is_left_to_its_pass_until_the_lease_ends(app, api):
    """Two passes at once take different events; a crashed pass's events are taken over
    once its lease has ended, and reacting twice enrolls nobody twice."""
    seq = api.post("/api/sequences", json=TRIGGERED).json["id"]
    assert api.post(f"/api/sequences/{seq}/activate").status_code == 200
    signed = {"contact": {"email": "ada@example.com"}, "event": "signed_up"}
    api.post("/api/events", json=signed)
    now = datetime.now(UTC)
    assert len(event_service._claim(now, 10)) == 1  # a pass claims it, then crashes
    assert event_service.react_to_stored(now) == 0  # another pass leaves it alone
    assert count(ContactSequence) == 0
    after = now + event_service.REACTION_LEASE
    assert event_service.react_to_stored(after) == 1
    assert count(ContactSequence) == 1 and count(EventReaction) == 0
    api.post("/api/events", json=signed)
    event_service._claim(after, 10)  # claimed by a pass that crashes
    assert event_service.react_to_stored(after + event_service.REACTION_LEASE) == 1
    assert count(ContactSequence) == 1  # the re-enrollment rule: enrolled once


def test_a_pass_claims_its_batch_and_no_more_with_the_statistics_of_an_empty_queue(pg_app):
    """The queue is empty most of the time, and analyzed so. With those statistics, a claim
    whose UPDATE picked its rows with `IN (locking subquery)` rescanned the subquery for
    every queued event: it claimed all 1,000 here, not 10."""
    queued = [{"event_id": n} for n in range(1, 1001)]
    with statistics_kept("event_reactions"):
        analyzed_empty(
            "event_reactions",
            lambda: db.session.execute(EventReaction.__table__.insert(), queued),
        )
        now = datetime.now(UTC)
        assert event_service._claim(now, 10) == list(range(1, 11))
        assert event_service._claim(now, 10) == list(range(11, 21))
        leased = select(func.count()).where(EventReaction.claimed_until.is_not(None))
        assert db.session.scalar(leased) == 20


@pytest.mark.parametrize("batch", [1, 3])
def test_the_pass_goes_through_the_queue_in_batches(app, api, batch):
    people = [{"contact": {"email": f"p{i}@example.com"}, "event": "seen"} for i in range(7)]
    api.post("/api/events", json=people)
    assert event_service.react_to_stored(datetime.now(UTC) + timedelta(seconds=1), batch) == 7
    assert count(EventReaction) == 0


def plans_of_statements(engine) -> list[dict]:
    """The executed plans (auto_explain, as JSON) of every statement run on connections the
    engine opens from now on."""
    plans: list[dict] = []

    def explain(dbapi_connection, _record) -> None:
        dbapi_connection.add_notice_handler(
            lambda notice: plans.append(json.loads(notice.message_primary.split("\n", 1)[1]))
        )
        for setting in (
            "LOAD 'auto_explain'",
            "SET auto_explain.log_min_duration = 0",
            "SET auto_explain.log_analyze = on",
            "SET auto_explain.log_format = 'json'",
            "SET auto_explain.log_level = 'notice'",
        ):
            dbapi_connection.execute(setting)
        dbapi_connection.commit()

    engine.dispose()
    sa_event.listen(engine, "connect", explain)
    return plans


def plan_nodes(plan: dict) -> Iterator[dict]:
    """Every node of an executed plan, its CTEs and subplans included."""
    pending = [plan["Plan"]]
    while pending:
        node = pending.pop()
        pending.extend(node.get("Plans", ()))
        yield node


def rows_read(plan: dict, relation: str) -> int:
    """Rows the plan's scans of `relation` read: those returned and those filtered out."""
    return sum(
        node["Actual Loops"] * (node["Actual Rows"] + node.get("Rows Removed by Filter", 0))
        for node in plan_nodes(plan)
        if node.get("Relation Name") == relation and "Scan" in node["Node Type"]
    )


def rows_offered(plan: dict, relation: str) -> int:
    """Rows the plan offered to its inserts into `relation` (before any conflict check)."""
    return sum(
        child["Actual Loops"] * child["Actual Rows"]
        for node in plan_nodes(plan)
        if node.get("Operation") == "Insert" and node.get("Relation Name") == relation
        for child in node["Plans"]
    )


def test_a_batch_offers_only_the_addresses_not_found_to_the_contacts_insert(pg_app):
    """Each address is looked up once: a known one never reaches the insert, whose conflict
    check had probed the primary key at a random new id as well (a tenth of a batch's
    statement)."""
    api = api_for(pg_app, "Offered")
    for email in ("ada@example.com", "bob@example.com"):
        assert api.post("/api/contacts", json={"email": email}).status_code == 201
    db.session.commit()  # no transaction left open on a connection opened before the plans
    plans = plans_of_statements(db.engine)
    emails = ["ada@example.com", "bob@example.com", "new-1@example.com", "new-2@example.com"]
    body = [{"contact": {"email": email}, "event": "seen"} for email in emails * 2]

    assert api.post("/api/events", json=body).json["accepted"] == 8

    [store] = [p for p in plans if "contact_events" in p["Query Text"]]
    assert rows_offered(store, "contacts") == 2
    assert db.session.scalar(select(func.count()).select_from(Contact)) == 4


def test_a_batch_reads_one_receipt_and_one_contact_per_event_whatever_the_statistics(pg_app):
    """Planned once and kept (a prepared statement's generic plan), with statistics taken
    while the tables were small: each event's receipt and contact are still looked up by
    key. A plan chosen for ten rows had scanned every receipt of the workspace, and read
    the batch's contacts again for every event."""
    api = api_for(pg_app, "Planned")
    workspace = db.session.get_one(Workspace, api.workspace_id)
    db.session.execute(text("ANALYZE event_receipts"))
    db.session.execute(text("ANALYZE contacts"))
    old = [
        {
            "tenant_id": workspace.tenant_id,
            "workspace_id": workspace.id,
            "client_event_id": f"old-{n}",
            "payload_hash": "0" * 64,
            "received_at": datetime.now(UTC),
        }
        for n in range(2000)
    ]
    db.session.execute(EventReceipt.__table__.insert(), old)
    contacts = [
        {
            "id": uuid.uuid4(),
            "tenant_id": workspace.tenant_id,
            "workspace_id": workspace.id,
            "email": f"known-{n}@example.com",
            "fields": {},
            "tags": [],
        }
        for n in range(2000)
    ]
    db.session.execute(Contact.__table__.insert(), contacts)
    db.session.commit()
    plans = plans_of_statements(db.engine)
    batch = 10
    for n in range(15):  # prepared after five runs, then planned generically
        body = [
            {"contact": {"email": f"p{n}-{k}@example.com"}, "event": "seen", "id": f"{n}-{k}"}
            for k in range(batch)
        ]
        assert api.post("/api/events", json=body).json["accepted"] == batch
    store = [p for p in plans if "event_receipts" in p["Query Text"]][-1]
    assert rows_read(store, "event_receipts") <= batch
    assert rows_read(store, "contacts") <= batch
