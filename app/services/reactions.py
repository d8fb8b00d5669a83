"""What follows a committed change to contacts: the one place every writer calls.

Events (from the API, tracking, replies, forms, the engine's own actions) and contact edits
can convert goals and change rule-based segments, and joining a segment can enroll the
contact through `segment_join` triggers. Writers commit first and then call `after_change`,
so a failure here never loses what was written; the goal monitor and the periodic segment
refresh catch up with anything missed.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from app.models import ContactEvent
from app.services import goals, segments


def after_change(
    workspace_id: uuid.UUID,
    contact_ids: Iterable[uuid.UUID],
    events: Iterable[Mapping[str, Any] | ContactEvent],
    now: datetime,
) -> None:
    """React to these contacts having changed and to these events about them."""
    found = [event_dict(e) for e in events]
    changed = set(contact_ids) | {e["contact_id"] for e in found}
    if not changed:
        return
    goals.check_events(workspace_id, found, now)
    segments.refresh_contacts(workspace_id, changed, now)


def event_dict(event: Mapping[str, Any] | ContactEvent) -> dict[str, Any]:
    """An event as a plain dict: id, contact_id, type, properties, occurred_at, source."""
    if isinstance(event, Mapping):
        return dict(event)
    return {
        "id": event.id,
        "contact_id": event.contact_id,
        "type": event.type,
        "properties": event.properties or {},
        "occurred_at": event.occurred_at,
        "source": event.source,
        "enrollment_id": event.enrollment_id,
    }
