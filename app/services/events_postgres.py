"""The events API's common case on PostgreSQL in one statement, committed on its own.

Why: a request storing events took nine round trips (the pool's ping, BEGIN, finding or
creating the contacts, the receipts, the insert, the waits, COMMIT) and most of its time
went to them and to building the statements. Here one prepared statement, in autocommit,
finds or creates the contacts, checks the receipts, stores the events with their receipts
and queued reactions (`EventReaction`), and returns the enrollments waiting on those
contacts; only when one of them waits for such an event does a second statement make it
due. The queued reaction wakes them again in the processor's next pass, so a process that
dies between the two statements delays a wake-up and loses none.

It stores nothing and answers None whenever the general path (`events._store`, one
transaction) must decide: an id reused with another payload (409) or expired, a contact id
not in the workspace (422), a contact another request created meanwhile, a concurrent
request storing the same id (the unique receipt). That path then gives the same errors
and outcomes it always has; this one is only faster.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from types import SimpleNamespace
from typing import Any, Protocol

from sqlalchemy import Connection, Row, text
from sqlalchemy.exc import IntegrityError

from app.core.addresses import email_key
from app.core.events import UNCOUNTED
from app.extensions import db
from app.services.contact_changes import RECEIPT_TTL, Recorded
from app.services.waits import by_contact_of, make_due, nudge_processor, waiting_for


class Incoming(Protocol):
    """A validated event (`events.IncomingEvent`)."""

    type: str
    properties: dict[str, Any]
    occurred_at: datetime
    email: str | None
    contact_id: uuid.UUID | None
    client_id: str | None
    payload_hash: str


FOUND_OR_CREATED = """
created AS (
    INSERT INTO contacts (id, tenant_id, workspace_id, email, email_key, fields, tags,
        created_at, updated_at)
    SELECT new_id, :tenant_id, :workspace_id, email, email_key, '{}', '[]', :now, :now
    FROM wanted ORDER BY email_key
    ON CONFLICT DO NOTHING
    RETURNING email_key, id
),
found AS (
    SELECT email_key, id FROM created
    UNION ALL
    SELECT c.email_key, c.id FROM contacts c JOIN wanted w USING (email_key)
    WHERE c.workspace_id = :workspace_id
)"""
"""The contacts of the `wanted` email keys (email_key, email, new_id), created where
missing: `found` (email_key, id). Its SELECT reads the table as it was when the statement
began, so it finds the contacts that existed and `created` returns the new ones; a key
another transaction created meanwhile is in neither (the insert waited for it, then
skipped the row)."""

STORE = text(
    """
WITH given AS (
    SELECT * FROM unnest(
        CAST(:email_key AS text[]), CAST(:email AS text[]), CAST(:new_id AS uuid[]),
        CAST(:contact_id AS uuid[]), CAST(:type AS text[]), CAST(:properties AS text[]),
        CAST(:occurred_at AS timestamptz[]), CAST(:receipt_key AS text[]),
        CAST(:receipt_hash AS text[])
    ) WITH ORDINALITY AS g(email_key, email, new_id, contact_id, type, properties,
        occurred_at, receipt_key, receipt_hash, position)
),
seen AS (
    SELECT r.client_event_id AS receipt_key, r.payload_hash, r.event_id, r.received_at
    FROM event_receipts r
    WHERE r.workspace_id = :workspace_id
        AND r.client_event_id = ANY(CAST(:receipt_key AS text[]))
),
stop AS (
    SELECT 1 FROM given g JOIN seen s USING (receipt_key)
    WHERE s.received_at <= :expired OR s.payload_hash <> g.receipt_hash
    UNION ALL
    SELECT 1 FROM given g
    WHERE g.contact_id IS NOT NULL AND NOT EXISTS (
        SELECT 1 FROM contacts c WHERE c.id = g.contact_id AND c.workspace_id = :workspace_id)
    LIMIT 1
),
fresh AS (
    SELECT g.*, row_number() OVER (ORDER BY g.position) AS rank FROM given g
    WHERE NOT EXISTS (SELECT 1 FROM stop)
        AND NOT EXISTS (SELECT 1 FROM seen s WHERE s.receipt_key = g.receipt_key)
),
wanted AS (
    SELECT DISTINCT ON (email_key) email_key, email, new_id FROM fresh
    WHERE email_key IS NOT NULL ORDER BY email_key, position
),
"""
    + FOUND_OR_CREATED
    + """,
resolved AS (
    SELECT f.*, COALESCE(f.contact_id, found.id) AS cid
    FROM fresh f LEFT JOIN found USING (email_key)
),
complete AS (SELECT NOT EXISTS (SELECT 1 FROM resolved WHERE cid IS NULL) AS ok),
stored AS (
    INSERT INTO contact_events (tenant_id, workspace_id, contact_id, type, properties,
        occurred_at, recorded_at, source)
    SELECT :tenant_id, :workspace_id, cid, type, CAST(properties AS jsonb), occurred_at,
        :now, 'api'
    FROM resolved WHERE (SELECT ok FROM complete) ORDER BY position
    RETURNING id, contact_id
),
numbered AS (SELECT id, contact_id, row_number() OVER (ORDER BY id) AS rank FROM stored),
receipts AS (
    INSERT INTO event_receipts (tenant_id, workspace_id, client_event_id, payload_hash,
        event_id, received_at)
    SELECT :tenant_id, :workspace_id, r.receipt_key, r.receipt_hash, n.id, :now
    FROM numbered n JOIN resolved r USING (rank) WHERE r.receipt_key IS NOT NULL
),
queued AS (INSERT INTO event_reactions (event_id) SELECT id FROM numbered),
waiting AS (
    SELECT cs.id, cs.contact_id, st.config FROM contact_sequences cs
    JOIN sequence_steps st ON st.id = cs.current_step_id
    WHERE cs.workspace_id = :workspace_id AND cs.status = 'active'
        AND st.type = 'wait_until' AND cs.contact_id IN (SELECT cid FROM resolved)
)
SELECT
    (SELECT ok FROM complete) AND NOT EXISTS (SELECT 1 FROM stop) AS stored,
    (SELECT array_agg(id ORDER BY rank) FROM numbered) AS ids,
    (SELECT array_agg(contact_id ORDER BY rank) FROM numbered) AS contacts,
    (SELECT array_agg(receipt_key) FROM seen) AS seen_keys,
    (SELECT array_agg(event_id) FROM seen) AS seen_ids,
    (SELECT json_agg(json_build_array(id, contact_id, config)) FROM waiting) AS waiting
"""
)
"""Rows go in in the order given (ORDER BY in INSERT ... SELECT), so the ids the sequence
hands out rise in that order: ranking them by id pairs each with its event (as
`contact_changes.INSERT_ALL`)."""


def store(
    tenant_id: uuid.UUID,
    workspace_id: uuid.UUID,
    events: Sequence[Incoming],
    now: datetime,
) -> Recorded | None:
    """Store these events in one statement, or None (nothing stored) for the general path."""
    first: dict[str, int] = {}
    repeat_of: dict[int, int] = {}  # position -> the position it repeats, in this request
    for i, event in enumerate(events):
        if event.type in UNCOUNTED:
            return None
        if event.client_id is None:
            continue
        if event.client_id not in first:
            first[event.client_id] = i
        elif events[first[event.client_id]].payload_hash == event.payload_hash:
            repeat_of[i] = first[event.client_id]
        else:
            return None  # an id reused with another payload: the general path refuses it
    fresh = [i for i in range(len(events)) if i not in repeat_of]
    params = _parameters(tenant_id, workspace_id, events, fresh, now)
    try:
        with _connection() as (conn, commit):
            answer = conn.execute(STORE, params).one()
            if not answer.stored:  # the general path goes on in the same transaction
                return None
            woken = _wake(conn, answer, [events[i] for i in fresh], now)
            commit()
    except IntegrityError:  # the same id, stored by a concurrent request first
        return None
    if woken:
        nudge_processor()
    seen = dict(zip(answer.seen_keys or (), answer.seen_ids or (), strict=True))
    ids: list[int | None] = [None] * len(events)
    repeats = [False] * len(events)
    stored_at = iter(answer.ids or ())
    for i in fresh:
        event = events[i]
        if event.client_id in seen:
            ids[i], repeats[i] = seen[event.client_id], True
        else:
            ids[i] = next(stored_at)
    for i, original in repeat_of.items():
        ids[i], repeats[i] = ids[original], True
    stored = [
        {"id": ids[i], "type": events[i].type, "contact_id": contact_id}
        for i, contact_id in zip(
            (i for i in fresh if not repeats[i]), answer.contacts or (), strict=True
        )
    ]
    return Recorded(stored, ids, repeats, woken)


@contextmanager
def _connection() -> Iterator[tuple[Connection, Callable[[], None]]]:
    """A connection of its own in autocommit (a request's session holds no transaction:
    one round trip, no BEGIN or COMMIT), else the session's, with its commit (rolled back
    on an error, as the general path's would be)."""
    if not db.session().in_transaction():
        with db.engine.connect() as conn:
            yield conn.execution_options(isolation_level="AUTOCOMMIT"), lambda: None
        return
    try:
        yield db.session.connection(), db.session.commit
    except BaseException:
        db.session.rollback()
        raise


def _wake(conn: Connection, answer: Row[Any], fresh: list[Incoming], now: datetime) -> int:
    """Make due the enrollments waiting for one of the stored events; how many."""
    if not answer.waiting:
        return 0
    seen = set(answer.seen_keys or ())
    stored = (e for e in fresh if e.client_id is None or e.client_id not in seen)
    by_contact = by_contact_of(
        {"contact_id": contact_id, "type": e.type, "properties": e.properties}
        for e, contact_id in zip(stored, answer.contacts, strict=True)
    )
    waiting = [
        SimpleNamespace(id=uuid.UUID(id_), contact_id=uuid.UUID(contact_id), config=config)
        for id_, contact_id, config in answer.waiting
    ]
    due = waiting_for(waiting, by_contact)
    for statement in make_due(due, now):
        conn.execute(statement)
    return len(due)


def _parameters(
    tenant_id: uuid.UUID,
    workspace_id: uuid.UUID,
    events: Sequence[Incoming],
    fresh: list[int],
    now: datetime,
) -> dict[str, Any]:
    chosen = [events[i] for i in fresh]
    keys = [email_key(e.email) if e.email is not None else None for e in chosen]
    return {
        "email_key": keys,
        "email": [e.email for e in chosen],
        "new_id": [uuid.uuid4() if key is not None else None for key in keys],
        "contact_id": [e.contact_id for e in chosen],
        "type": [e.type for e in chosen],
        "properties": [json.dumps(e.properties) for e in chosen],
        "occurred_at": [e.occurred_at for e in chosen],
        "receipt_key": [e.client_id for e in chosen],
        "receipt_hash": [e.payload_hash if e.client_id is not None else None for e in chosen],
        "tenant_id": tenant_id,
        "workspace_id": workspace_id,
        "now": now,
        "expired": now - RECEIPT_TTL,
    }
