"""One path for every change to a contact: apply it, then record the events it implies.

`apply_changes` sets custom fields, profile columns and tags on a contact and returns a
`field_changed` event for each value that really changed; bulk writers (imports, the
processor's actions) build the same rows with `field_changed`. `record_events` stores
events, from one writer or a whole batch, and does what must follow every recorded event,
in this order: drop the repeats a writer's own event ids reveal, insert, wake the
enrollments waiting for the events, commit, nudge the worker, react (goals and segments).
The contacts and events APIs, the contact pages, hosted forms, CSV imports, tracking,
inbound mail, unsubscribe links and the engine's actions all go through it, so a wait or
a goal on a field or an event reacts whoever wrote it. (Segments record `segment_joined`
and `segment_left` themselves: they are written by the reaction step, which must not
react to itself.)

The work is a fixed number of statements per call whatever the number of events: one
lookup of receipts (when events carry them; one more to delete expired ones found), one
insert of the events with their receipts (on SQLite, two) and one wake-up query per
workspace concerned.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, insert, select, text

from app.core import limits
from app.core.contact_input import ContactInputError
from app.core.events import FIELD_CHANGED, UNCOUNTED
from app.extensions import db
from app.models import Contact, ContactEvent, EventReaction, EventReceipt
from app.services import reactions
from app.services.waits import nudge_processor, wake_for_events

RECEIPT_TTL = timedelta(hours=24)
"""How long a writer's own event id marks a repeat (`Receipt`)."""
COLUMNS = (
    "tenant_id",
    "workspace_id",
    "contact_id",
    "type",
    "properties",
    "occurred_at",
    "recorded_at",
    "source",
    "enrollment_id",
    "step_id",
    "message_id",
)
"""What an event row to record holds (`recorded_at` defaults to now, ids to None)."""

Event = ContactEvent | Mapping[str, Any]
Hook = Callable[[list[dict[str, Any]]], None]


@dataclass(frozen=True)
class Receipt:
    """A writer's own id for an event (a client's event id, an email's Message-ID) and the
    hash of what the event says: within RECEIPT_TTL, the same key is the same event."""

    key: str
    payload_hash: str


class ReceiptConflict(ValueError):
    """An event reuses a key seen within RECEIPT_TTL for a different event; `index` is its
    position among the events given. Raised before any write: the caller rolls back."""

    def __init__(self, index: int, key: str) -> None:
        super().__init__(f"event id {key!r} was already used for a different event")
        self.index, self.key = index, key


@dataclass(frozen=True)
class Recorded:
    """What `record_events` did: the new events as stored (dicts with their ids), and for
    each event given its id (a repeat gets the id of the event it repeats) and whether it
    was a repeat."""

    stored: list[dict[str, Any]]
    ids: list[int | None]
    repeats: list[bool]
    woken: int


def apply_changes(
    contact: Contact,
    now: datetime,
    source: str,
    *,
    fields: Mapping[str, Any] | None = None,
    removed: Iterable[str] = (),
    profile: Mapping[str, Any] | None = None,
    tags: Iterable[str] | None = None,
) -> list[dict[str, Any]]:
    """Set `fields` and remove the `removed` custom fields, set the `profile` columns
    (first_name, last_name, timezone) and make `tags` the contact's tags (None: unchanged).

    Returns, unsaved, one `field_changed` event (`source` says who changed it) per value
    that changed: JSON inequality, so 1, 1.0 and true differ. ContactInputError (naming
    `fields` or `tags`) if the result exceeds the limits; the contact is then unchanged.
    """
    changes: list[tuple[str, Any, Any]] = []
    values = dict(contact.fields or {})
    for key in removed:
        if key in values:
            changes.append((key, values.pop(key), None))
    for key, new in (fields or {}).items():
        old = values.get(key)
        if key not in values or differs(old, new):
            values[key] = new
            changes.append((key, old, new))
    if len(values) > limits.FIELDS:
        message = f"fields: a contact has at most {limits.FIELDS} custom fields"
        raise ContactInputError(message, "fields")
    wanted = None if tags is None else sorted(set(tags))
    if wanted is not None and len(wanted) > limits.TAGS:
        raise ContactInputError(f"tags: a contact has at most {limits.TAGS} tags", "tags")
    if changes:
        contact.fields = values
    for name, new in (profile or {}).items():
        old = getattr(contact, name)
        if differs(old, new):
            changes.append((name, old, new))
            setattr(contact, name, new)
    if wanted is not None and wanted != contact.tags:
        contact.tags = wanted
    return [
        field_changed(contact, contact.id, name, old, new, now, source)
        for name, old, new in changes
    ]


def field_changed(
    owner: Any,
    contact_id: uuid.UUID,
    name: str,
    old: Any,
    new: Any,
    now: datetime,
    source: str,
    **attribution: uuid.UUID | None,
) -> dict[str, Any]:
    """A `field_changed` event row about a contact of `owner`'s workspace (anything with
    tenant_id and workspace_id: the contact, an import, an enrollment); `attribution` may
    name the enrollment_id and step_id that made the change."""
    return {
        "tenant_id": owner.tenant_id,
        "workspace_id": owner.workspace_id,
        "contact_id": contact_id,
        "type": FIELD_CHANGED,
        "properties": {"field": name, "from": old, "to": new},
        "occurred_at": now,
        "recorded_at": now,
        "source": source,
        "enrollment_id": attribution.get("enrollment_id"),
        "step_id": attribution.get("step_id"),
        "message_id": None,
    }


def record_events(
    events: Sequence[Event],
    now: datetime,
    *,
    receipts: Sequence[Receipt | None] = (),
    changed: Mapping[uuid.UUID, Iterable[uuid.UUID]] | None = None,
    before_commit: Hook | None = None,
    after_commit: Hook | None = None,
    defer_reactions: bool = False,
) -> Recorded:
    """Record these events with whatever else the session holds, and do what follows.

    1. Drop repeats: an event whose receipt (`receipts[i]`, parallel to `events`) was seen
       within RECEIPT_TTL, or earlier in this call, is not stored again; a seen key with
       another payload hash raises ReceiptConflict before anything is written.
    2. Insert the new events and their receipts (one statement on PostgreSQL).
    3. `before_commit(stored)`: the caller's writes that depend on the events being new.
    4. Wake the enrollments waiting for the events, commit, nudge the worker if any woke.
    5. `after_commit(stored)`: the caller's follow-up that needs the commit (enrolling).
    6. React to the events and to the `changed` contacts (by workspace: contacts whose
       tags or columns changed without an event): goals, segments. With `defer_reactions`
       the events are instead queued (an `EventReaction` each, written with them) for the
       processor's next pass (`events.react_to_stored`), so a busy writer answers without
       that work; the wake-up of step 4 stays immediate.

    Events are ContactEvent objects (given their ids here) or dicts with `COLUMNS`; they
    may belong to several workspaces. `UNCOUNTED` events (scanner clicks) are stored only.
    """
    db.session.flush()  # contacts the caller created, before events refer to them
    rows = [_row(event, now) for event in events]
    given = list(receipts) or [None] * len(rows)
    fresh, repeat_of = _drop_repeats(rows, given, now)
    counts = {i for i in fresh if rows[i]["type"] not in UNCOUNTED}
    ids = _store(events, rows, given, fresh, counts if defer_reactions else set(), now)
    for i, (known, first) in repeat_of.items():
        ids[i] = known if first is None else ids[first]
    stored = [{**rows[i], "id": ids[i]} for i in fresh]
    if before_commit is not None:
        before_commit(stored)
    counted = _by_workspace({**rows[i], "id": ids[i]} for i in sorted(counts))
    woken = sum(wake_for_events(ws, found, now) for ws, found in counted.items())
    db.session.commit()
    if woken:
        nudge_processor()
    if after_commit is not None:
        after_commit(stored)
    members = {ws: set(contact_ids) for ws, contact_ids in (changed or {}).items()}
    react = {} if defer_reactions else counted
    for workspace_id in {*members, *react}:
        found = react.get(workspace_id, [])
        reactions.after_change(workspace_id, members.get(workspace_id, ()), found, now)
    repeats = [i in repeat_of for i in range(len(rows))]
    return Recorded(stored, ids, repeats, woken)


def _store(
    events: Sequence[Event],
    rows: list[dict[str, Any]],
    receipts: list[Receipt | None],
    fresh: list[int],
    queue: set[int],
    now: datetime,
) -> list[int | None]:
    """Insert the fresh events, their receipts and the `queue` positions' EventReactions;
    each given event's id (None for the repeats, filled in by the caller)."""
    ids: list[int | None] = [None] * len(rows)
    if not fresh:
        return ids
    postgres = db.session.connection().dialect.name == "postgresql"
    if postgres:
        new = _insert_all(rows, receipts, fresh, queue, now)
    else:
        new = _insert_events([rows[i] for i in fresh])
    for i, event_id in zip(fresh, new, strict=True):
        ids[i] = event_id
        event = events[i]
        if isinstance(event, ContactEvent):
            event.id = event_id
    if not postgres:
        _store_receipts(rows, receipts, fresh, ids, now)
        if queue:
            db.session.execute(
                insert(EventReaction.__table__), [{"event_id": ids[i]} for i in sorted(queue)]
            )
    return ids


INSERT_ALL = text(
    """
WITH given AS (
    SELECT * FROM unnest(
        CAST(:tenant_id AS uuid[]), CAST(:workspace_id AS uuid[]), CAST(:contact_id AS uuid[]),
        CAST(:type AS text[]), CAST(:properties AS text[]),
        CAST(:occurred_at AS timestamptz[]), CAST(:recorded_at AS timestamptz[]),
        CAST(:source AS text[]), CAST(:enrollment_id AS uuid[]), CAST(:step_id AS uuid[]),
        CAST(:message_id AS uuid[]), CAST(:receipt_key AS text[]),
        CAST(:receipt_hash AS text[]), CAST(:queue AS boolean[])
    ) WITH ORDINALITY AS g(tenant_id, workspace_id, contact_id, type, properties, occurred_at,
        recorded_at, source, enrollment_id, step_id, message_id, receipt_key, receipt_hash,
        queue, position)
),
stored AS (
    INSERT INTO contact_events (tenant_id, workspace_id, contact_id, type, properties,
        occurred_at, recorded_at, source, enrollment_id, step_id, message_id)
    SELECT tenant_id, workspace_id, contact_id, type, CAST(properties AS jsonb), occurred_at,
        recorded_at, source, enrollment_id, step_id, message_id
    FROM given ORDER BY position
    RETURNING id
),
numbered AS (SELECT id, row_number() OVER (ORDER BY id) AS position FROM stored),
receipts AS (
    INSERT INTO event_receipts (tenant_id, workspace_id, client_event_id, payload_hash,
        event_id, received_at)
    SELECT g.tenant_id, g.workspace_id, g.receipt_key, g.receipt_hash, n.id, :now
    FROM numbered n JOIN given g USING (position) WHERE g.receipt_key IS NOT NULL
),
queued AS (
    INSERT INTO event_reactions (event_id)
    SELECT n.id FROM numbered n JOIN given g USING (position) WHERE g.queue
)
SELECT id FROM numbered ORDER BY position
"""
)
"""PostgreSQL: the events, their receipts and their queued reactions in one statement.
The rows are inserted in the order given (ORDER BY in INSERT ... SELECT), so the ids the
sequence hands out rise in that order: numbering them by id gives each its position."""


def _insert_all(
    rows: list[dict[str, Any]],
    receipts: list[Receipt | None],
    fresh: list[int],
    queue: set[int],
    now: datetime,
) -> list[int]:
    """The fresh rows' ids, in order (see INSERT_ALL)."""
    params: dict[str, Any] = {
        name: [rows[i][name] for i in fresh] for name in COLUMNS if name != "properties"
    }
    params["properties"] = [json.dumps(rows[i]["properties"]) for i in fresh]
    params["receipt_key"] = [r.key if (r := receipts[i]) else None for i in fresh]
    params["receipt_hash"] = [r.payload_hash if (r := receipts[i]) else None for i in fresh]
    params["queue"] = [i in queue for i in fresh]
    params["now"] = now
    return list(db.session.execute(INSERT_ALL, params).scalars())


def _insert_events(rows: list[dict[str, Any]]) -> list[int]:
    """SQLite: insert event rows; their ids, in order.

    SQLite cannot promise the rows' order for RETURNING (SQLAlchemy would fall back to one
    INSERT per row): the rows are inserted without it and numbered from the largest id
    afterwards: inside this write transaction nobody else inserts, and SQLite gives each
    new row the largest id plus one.
    """
    table = ContactEvent.__table__
    db.session.execute(insert(table), rows)
    last = int(db.session.scalar(select(func.max(table.c.id))) or 0)
    return list(range(last - len(rows) + 1, last + 1))


def differs(old: Any, new: Any) -> bool:
    """JSON inequality: 1, 1.0 and true are different values to a client."""
    return json.dumps(old, sort_keys=True) != json.dumps(new, sort_keys=True)


def _row(event: Event, now: datetime) -> dict[str, Any]:
    if isinstance(event, ContactEvent):
        row = {name: getattr(event, name) for name in COLUMNS}
    else:
        row = {name: event.get(name) for name in COLUMNS}
    row["properties"] = row["properties"] or {}
    row["recorded_at"] = row["recorded_at"] or now
    return row


def _by_workspace(events: Iterable[dict[str, Any]]) -> dict[uuid.UUID, list[dict[str, Any]]]:
    found: dict[uuid.UUID, list[dict[str, Any]]] = {}
    for event in events:
        found.setdefault(event["workspace_id"], []).append(event)
    return found


def _drop_repeats(
    rows: list[dict[str, Any]], receipts: list[Receipt | None], now: datetime
) -> tuple[list[int], dict[int, tuple[int | None, int | None]]]:
    """The positions of the events to store, and for each repeat the id of the stored event
    it repeats, or the position of its first occurrence in this call."""
    keys = [
        None if receipt is None else (row["workspace_id"], receipt.key)
        for row, receipt in zip(rows, receipts, strict=True)
    ]
    seen = _live_receipts({key for key in keys if key is not None}, now)
    fresh: list[int] = []
    repeat_of: dict[int, tuple[int | None, int | None]] = {}
    first: dict[tuple[uuid.UUID, str], tuple[str, int]] = {}
    for i, (key, receipt) in enumerate(zip(keys, receipts, strict=True)):
        if key is None or receipt is None:
            fresh.append(i)
        elif key in seen:
            digest, event_id = seen[key]
            _same_payload(digest, receipt, i)
            repeat_of[i] = (event_id, None)
        elif key in first:
            digest, position = first[key]
            _same_payload(digest, receipt, i)
            repeat_of[i] = (None, position)
        else:
            first[key] = (receipt.payload_hash, i)
            fresh.append(i)
    return fresh, repeat_of


def _same_payload(digest: str, receipt: Receipt, index: int) -> None:
    if digest != receipt.payload_hash:
        raise ReceiptConflict(index, receipt.key)


def _live_receipts(
    keys: set[tuple[uuid.UUID, str]], now: datetime
) -> dict[tuple[uuid.UUID, str], tuple[str, int | None]]:
    """The receipts of these keys within RECEIPT_TTL; expired ones found are deleted (they
    count for nothing, and the same key then stores a new event). One statement, and one
    more when an expired receipt turns up."""
    if not keys:
        return {}
    workspaces = {ws for ws, _ in keys}
    names = {key for _, key in keys}
    found = db.session.execute(
        select(
            EventReceipt.id,
            EventReceipt.workspace_id,
            EventReceipt.client_event_id,
            EventReceipt.payload_hash,
            EventReceipt.event_id,
            EventReceipt.received_at,
        ).where(
            EventReceipt.workspace_id.in_(workspaces),
            EventReceipt.client_event_id.in_(names),
        )
    ).all()
    expired = {r.id for r in found if r.received_at <= now - RECEIPT_TTL}
    if expired:
        db.session.execute(delete(EventReceipt).where(EventReceipt.id.in_(expired)))
    return {
        (r.workspace_id, r.client_event_id): (r.payload_hash, r.event_id)
        for r in found
        if (r.workspace_id, r.client_event_id) in keys and r.id not in expired
    }


def _store_receipts(
    rows: list[dict[str, Any]],
    receipts: Sequence[Receipt | None],
    fresh: list[int],
    ids: list[int | None],
    now: datetime,
) -> None:
    """A receipt for each new event that carries one (one statement). A concurrent writer
    that stored the same key first makes this fail on the unique constraint: the caller
    rolls back, and a second attempt finds the key."""
    found = [
        {
            "tenant_id": rows[i]["tenant_id"],
            "workspace_id": rows[i]["workspace_id"],
            "client_event_id": receipt.key,
            "payload_hash": receipt.payload_hash,
            "event_id": ids[i],
            "received_at": now,
        }
        for i in fresh
        if (receipt := receipts[i]) is not None
    ]
    if found:
        db.session.execute(insert(EventReceipt.__table__), found)
