"""One path for every change to a contact: apply it, then record the events it implies.

`apply_changes` sets custom fields, profile columns and tags on a contact and returns a
`field_changed` event for each value that really changed. `record_events` stores events and
does what must follow every recorded event, in this order: wake the enrollments waiting for
them, commit, nudge the worker, react (goals and segments). The API's create-or-update and
PATCH, the contact pages and hosted forms all go through both, so a wait or a goal on a
field reacts whoever changed the field.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from app.core import limits
from app.core.contact_input import ContactInputError
from app.core.events import FIELD_CHANGED
from app.extensions import db
from app.models import Contact, ContactEvent
from app.services import reactions
from app.services.waits import nudge_processor, wake_for_events


def apply_changes(
    contact: Contact,
    now: datetime,
    source: str,
    *,
    fields: Mapping[str, Any] | None = None,
    removed: Iterable[str] = (),
    profile: Mapping[str, Any] | None = None,
    tags: Iterable[str] | None = None,
) -> list[ContactEvent]:
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
        if key not in values or _differs(old, new):
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
        if _differs(old, new):
            changes.append((name, old, new))
            setattr(contact, name, new)
    if wanted is not None and wanted != contact.tags:
        contact.tags = wanted
    return [_field_changed(contact, name, old, new, now, source) for name, old, new in changes]


def record_events(
    workspace_id: uuid.UUID,
    events: Iterable[ContactEvent],
    now: datetime,
    *,
    contact_ids: Iterable[uuid.UUID] = (),
    react: bool = True,
) -> list[dict[str, Any]]:
    """Store the events with whatever else the session holds, wake the enrollments waiting
    for them, commit, and nudge the worker if any woke; then, unless `react` is False,
    react to the events and to the changed `contact_ids` (goals, segments).

    Returns the events as `reactions.event_dict`s, for a caller that reacts itself after
    doing more (a form enrolls its contact first)."""
    rows = list(events)
    db.session.add_all(rows)
    db.session.flush()
    stored = [reactions.event_dict(row) for row in rows]
    woken = wake_for_events(workspace_id, stored, now) if stored else 0
    db.session.commit()
    if woken:
        nudge_processor()
    if react:
        reactions.after_change(workspace_id, contact_ids, stored, now)
    return stored


def _field_changed(
    contact: Contact, name: str, old: Any, new: Any, now: datetime, source: str
) -> ContactEvent:
    return ContactEvent(
        tenant_id=contact.tenant_id,
        workspace_id=contact.workspace_id,
        contact_id=contact.id,
        type=FIELD_CHANGED,
        properties={"field": name, "from": old, "to": new},
        occurred_at=now,
        recorded_at=now,
        source=source,
    )


def _differs(old: Any, new: Any) -> bool:
    """JSON inequality: 1, 1.0 and true are different values to a client."""
    return json.dumps(old, sort_keys=True) != json.dumps(new, sort_keys=True)
