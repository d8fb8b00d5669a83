"""Enrollment endpoints: take one contact out of a sequence."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import g, jsonify, request

from app.api import ApiError, api_bp, json_body, owned
from app.services import enrollment as enrollment_service

MAX_REASON = 500


@api_bp.post("/enrollments/<enrollment_id>/exit")
def exit_enrollment(enrollment_id: str) -> Any:
    """End an active or paused enrollment as `exited`; its queued emails are not sent.
    409 when it has already finished. Optional body: `{"reason": "..."}`."""
    now = datetime.now(UTC)
    found = owned(enrollment_service.get_enrollment, enrollment_id, "enrollment")
    reason = _reason()
    text = "removed through the API" + (f": {reason}" if reason else "")
    ended = enrollment_service.exit_enrollment(g.workspace_id, found.id, text, now)
    if ended is None:
        raise ApiError(409, f"this enrollment has already finished ({found.status})")
    return jsonify(
        {
            "id": str(ended.id),
            "contact_id": str(ended.contact_id),
            "sequence_id": str(ended.sequence_id),
            "status": ended.status,
            "exit_reason": ended.exit_reason,
            "finished_at": ended.finished_at.isoformat() if ended.finished_at else None,
        }
    )


def _reason() -> str:
    """The optional reason; an empty body means none."""
    if not request.get_data():
        return ""
    reason = json_body().get("reason", "")
    if reason is None:
        return ""
    if not isinstance(reason, str) or len(reason) > MAX_REASON:
        raise ApiError(422, f"reason must be text of at most {MAX_REASON} characters", "reason")
    return reason.strip()
