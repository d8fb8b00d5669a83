"""`GET /api/enrollments/{id}`: one enrollment with its full story, as the page shows it."""

from __future__ import annotations

from typing import Any

from flask import jsonify

from app.api import api_bp, owned
from app.core.story import Entry
from app.services.enrollment import enrollment_to_dict
from app.services.enrollment_story import Story, enrollment_story


@api_bp.get("/enrollments/<enrollment_id>")
def enrollment_detail(enrollment_id: str) -> Any:
    """The enrollment (as in the lists), the version it runs on, why it waits, and its
    timeline across every run, oldest first; 404 for another workspace's or a bad id."""
    found: Story = owned(enrollment_story, enrollment_id, "enrollment")
    body = enrollment_to_dict(found.row, found.history)
    body["version"] = found.enrollment.version
    body["waiting"] = found.waiting
    body["time_zone"] = found.zone.key
    body["truncated"] = found.truncated
    body["timeline"] = [
        _entry(entry, part.run.number, found)
        for part in reversed(found.runs)
        for entry in part.entries
    ]
    return jsonify(body)


def _entry(entry: Entry, run: int, found: Story) -> dict[str, Any]:
    return {
        "at": entry.at.isoformat(),
        "local_at": entry.at.astimezone(found.zone).isoformat(),
        "run": run,
        "kind": entry.kind,
        "text": entry.text,
        "fields": entry.fields,
    }
