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

import os
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from json.encoder import encode_basestring
from types import SimpleNamespace
from typing import Any, Protocol

import psycopg
from psycopg.rows import namedtuple_row
from sqlalchemy import Connection, text
from sqlalchemy.dialects.postgresql.psycopg import PGDialect_psycopg
from sqlalchemy.exc import DBAPIError, IntegrityError

from app.core.addresses import email_key
from app.core.events import UNCOUNTED
from app.extensions import db
from app.services.contact_changes import RECEIPT_TTL, Recorded
from app.services.waits import by_contact_of, make_due, nudge_processor, waiting_for


class Incoming(Protocol):
    """A validated event (`events.IncomingEvent`)."""

    type: str
    properties: dict[str, Any]
    properties_json: str
    occurred_at: datetime
    email: str | None
    contact_id: uuid.UUID | None
    client_id: str | None
    payload_hash: str


CREATE_MISSING = """
created AS (
    INSERT INTO contacts (id, tenant_id, workspace_id, email, email_key, fields, tags,
        created_at, updated_at)
    SELECT new_id, :tenant_id, :workspace_id, email, email_key, '{}', '[]', :now, :now
    FROM wanted ORDER BY email_key
    ON CONFLICT DO NOTHING
    RETURNING email_key, id
)"""
"""The contacts of the `wanted` email keys (email_key, email, new_id) that do not exist yet,
inserted: `created` (email_key, id). A key that exists, or that another transaction created
meanwhile (the insert waited for it, then skipped the row), is not in it. A SELECT of the
same statement reads the table as it was when the statement began: it finds the contacts
that existed before, and not the new ones."""

STORE = text(
    """
WITH given AS (
    SELECT * FROM json_to_recordset(CAST(:events AS json)) AS g(position int,
        email_key text, email text, new_id uuid, contact_id uuid, type text,
        properties jsonb, occurred_at timestamptz, receipt_key text, receipt_hash text)
),
seen AS (
    SELECT r.client_event_id AS receipt_key, r.payload_hash, r.event_id, r.received_at
    FROM (SELECT DISTINCT receipt_key FROM given WHERE receipt_key IS NOT NULL) k
    CROSS JOIN LATERAL (
        SELECT * FROM event_receipts r
        WHERE r.workspace_id = :workspace_id AND r.client_event_id = k.receipt_key
        LIMIT 1
    ) r
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
fresh AS MATERIALIZED (
    SELECT g.*, known.id AS known_id FROM given g
    LEFT JOIN LATERAL (
        SELECT c.id FROM contacts c
        WHERE c.workspace_id = :workspace_id AND c.email_key = g.email_key
        LIMIT 1
    ) known ON true
    WHERE NOT EXISTS (SELECT 1 FROM stop)
        AND NOT EXISTS (SELECT 1 FROM seen s WHERE s.receipt_key = g.receipt_key)
),
wanted AS (
    SELECT DISTINCT ON (email_key) email_key, email, new_id FROM fresh
    WHERE email_key IS NOT NULL AND known_id IS NULL ORDER BY email_key, position
),
"""
    + CREATE_MISSING
    + """,
resolved AS MATERIALIZED (
    SELECT f.*,
        COALESCE(f.contact_id, f.known_id,
            CASE WHEN f.new_id IN (SELECT id FROM created) THEN f.new_id END) AS cid,
        nextval('contact_events_id_seq') AS event_id
    FROM fresh f
    ORDER BY f.position
),
complete AS (SELECT NOT EXISTS (SELECT 1 FROM resolved WHERE cid IS NULL) AS ok),
stored AS (
    INSERT INTO contact_events (id, tenant_id, workspace_id, contact_id, type, properties,
        occurred_at, recorded_at, source)
    SELECT event_id, :tenant_id, :workspace_id, cid, type, properties, occurred_at, :now,
        'api'
    FROM resolved WHERE (SELECT ok FROM complete) ORDER BY position
),
receipts AS (
    INSERT INTO event_receipts (tenant_id, workspace_id, client_event_id, payload_hash,
        event_id, received_at)
    SELECT :tenant_id, :workspace_id, receipt_key, receipt_hash, event_id, :now
    FROM resolved WHERE (SELECT ok FROM complete) AND receipt_key IS NOT NULL
),
queued AS (
    INSERT INTO event_reactions (event_id)
    SELECT event_id FROM resolved WHERE (SELECT ok FROM complete)
),
waiting AS (
    SELECT w.* FROM (SELECT DISTINCT cid FROM resolved) r
    CROSS JOIN LATERAL (
        SELECT cs.id, cs.contact_id, st.config FROM contact_sequences cs
        JOIN sequence_steps st ON st.id = cs.current_step_id
        WHERE cs.contact_id = r.cid AND cs.workspace_id = :workspace_id
            AND cs.status = 'active' AND st.type = 'wait_until'
        OFFSET 0
    ) w
)
SELECT
    (SELECT ok FROM complete) AND NOT EXISTS (SELECT 1 FROM stop) AS stored,
    (SELECT array_agg(event_id ORDER BY position) FROM resolved) AS ids,
    (SELECT array_agg(cid ORDER BY position) FROM resolved) AS contacts,
    (SELECT array_agg(receipt_key) FROM seen) AS seen_keys,
    (SELECT array_agg(event_id) FROM seen) AS seen_ids,
    (SELECT json_agg(json_build_array(id, contact_id, config)) FROM waiting) AS waiting
"""
)
"""Every lookup in it is by a unique key, one row at a time (a LATERAL subquery with LIMIT
or OFFSET, which the planner cannot turn into a join), and the events take their ids from
their sequence before the insert, so receipts and reactions need no join back: planned
once and kept (a prepared statement's generic plan estimates ten rows whatever the batch),
a join chosen for ten rows compared every event with every other one in batches of 100,
and scanned all the workspace's receipts with statistics taken while the table was small.
A new contact's id is chosen here (`new_id`, one per address), so an event whose contact
the statement created knows its id without reading `created` row by row. Each address is
looked up once, in `fresh`, and only those not found are offered to the insert: its
conflict check of a known address probed the primary key at a random new id as well."""

STORE_SQL = str(STORE.compile(dialect=PGDialect_psycopg()))
"""The statement in the driver's own placeholders (`%(events)s`), compiled once."""


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
            answer = _execute_store(conn, params)
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


def _execute_store(conn: Connection, params: dict[str, Any]) -> Any:
    """The statement's one row, run by the driver itself: SQLAlchemy's statement and result
    layers took a tenth of a single event's time. A failure comes back as SQLAlchemy's
    error, as from `conn.execute`: a unique violation its IntegrityError (the general path
    takes over), a lost connection its OperationalError (the API's 503), invalidated."""
    driver = conn.connection.driver_connection
    try:
        with driver.cursor(row_factory=namedtuple_row) as cursor:
            cursor.execute(STORE_SQL, params)
            return cursor.fetchone()
    except psycopg.Error as exc:
        lost = driver.closed or driver.broken
        if lost:
            conn.invalidate(exc)
        raise DBAPIError.instance(
            STORE_SQL, None, exc, psycopg.Error, connection_invalidated=lost, dialect=conn.dialect
        ) from exc


@contextmanager
def _connection() -> Iterator[tuple[Connection, Callable[[], None]]]:
    """A connection of its own in autocommit (a request's session holds no transaction:
    one round trip, no BEGIN or COMMIT), else the session's, with its commit (rolled back
    on an error, as the general path's would be). A request that has not made a session
    gets none: making one and closing it cost a tenth of a single event's time."""
    if not db.session.registry.has() or not db.session().in_transaction():
        with db.engine.connect() as conn:
            yield conn.execution_options(isolation_level="AUTOCOMMIT"), lambda: None
        return
    try:
        yield db.session.connection(), db.session.commit
    except BaseException:
        db.session.rollback()
        raise


def _wake(conn: Connection, answer: Any, fresh: list[Incoming], now: datetime) -> int:
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
    """The events as one JSON document (one parameter): nine arrays took longer to adapt
    than the statement took to run. Each row is written out from its checked strings and
    the properties' canonical text, made once already for the payload hash: encoding the
    rows as dicts cost as much again as validating the events."""
    keys = [None if (email := events[i].email) is None else email_key(email) for i in fresh]
    distinct = dict.fromkeys(key for key in keys if key is not None)
    new_ids = dict(zip(distinct, random_uuid_texts(len(distinct)), strict=True))
    rows = []
    for position, (i, key) in enumerate(zip(fresh, keys, strict=True), start=1):
        event = events[i]
        contact_id = str(event.contact_id) if event.contact_id is not None else None
        receipt_hash = event.payload_hash if event.client_id is not None else None
        rows.append(
            f'{{"position":{position},"email_key":{_json(key)},"email":{_json(event.email)},'
            f'"new_id":{_json(new_ids.get(key))},"contact_id":{_json(contact_id)},'
            f'"type":{_json(event.type)},"properties":{event.properties_json},'
            f'"occurred_at":"{event.occurred_at.isoformat()}",'
            f'"receipt_key":{_json(event.client_id)},"receipt_hash":{_json(receipt_hash)}}}'
        )
    return {
        "events": f"[{','.join(rows)}]",
        "tenant_id": tenant_id,
        "workspace_id": workspace_id,
        "now": now,
        "expired": now - RECEIPT_TTL,
    }


def _json(text: str | None) -> str:
    """A string or null as JSON (the encoder's own function for strings, in C)."""
    return "null" if text is None else encode_basestring(text)


_VARIANT = "89ab" * 4
"""The variant digit of an RFC 4122 UUID, by the random hex digit it replaces."""


def random_uuid_texts(count: int) -> list[str]:
    """`count` random (version 4) UUIDs as text, from one read of the system's random
    source: `str(uuid.uuid4())` reads it once per id and builds an object, 2.4 µs an id
    against 0.65 µs here. A batch needs one for each address it names."""
    digits = os.urandom(16 * count).hex()
    return [
        f"{digits[i : i + 8]}-{digits[i + 8 : i + 12]}-4{digits[i + 13 : i + 16]}-"
        f"{_VARIANT[int(digits[i + 16], 16)]}{digits[i + 17 : i + 20]}-{digits[i + 20 : i + 32]}"
        for i in range(0, 32 * count, 32)
    ]
