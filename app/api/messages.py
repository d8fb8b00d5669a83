"""Outbox endpoints: list the workspace's messages, send an interrupted or failed one again."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import g, jsonify, request

from app.api import ApiError, api_bp, owned
from app.http.numbers import INT32_MAX, bounded_int
from app.models import OutboundMessage
from app.models.message import MESSAGE_STATUSES
from app.services import outbox as outbox_service


@api_bp.get("/messages")
def list_messages() -> Any:
    """A page of messages, newest first: `?status=` (e.g. `unknown`), `?limit=` (at most
    1000) and `?offset=`."""
    status = request.args.get("status") or None
    if status is not None and status not in MESSAGE_STATUSES:
        raise ApiError(422, f"status must be one of {', '.join(MESSAGE_STATUSES)}", "status")
    limit = bounded_int(request.args.get("limit"), "limit", 100, 1, 1000)
    offset = bounded_int(request.args.get("offset"), "offset", 0, 0, INT32_MAX)
    rows = outbox_service.list_messages(g.workspace_id, limit + 1, offset, status)
    return jsonify(
        {
            "messages": [_message_json(row.OutboundMessage) for row in rows[:limit]],
            "next_offset": offset + limit if len(rows) > limit else None,
        }
    )


@api_bp.post("/messages/<message_id>/resend")
def resend_message(message_id: str) -> Any:
    """Queue an `unknown` or `failed` message again; 409 in any other state."""
    found = owned(outbox_service.get_message, message_id, "message")
    if not outbox_service.send_again(g.workspace_id, found.id, datetime.now(UTC)):
        allowed = " or ".join(outbox_service.RESENDABLE)
        raise ApiError(409, f"only a message that is {allowed} can be sent again ({found.status})")
    return jsonify(_message_json(found))  # committed: read back as queued


def _message_json(message: OutboundMessage) -> dict[str, Any]:
    return {
        "id": str(message.id),
        "message_id": message.message_id,
        "to_email": message.to_email,
        "status": message.status,
        "attempts": message.attempts,
        "sequence_id": str(message.sequence_id),
        "step_id": str(message.step_id),
        "contact_id": str(message.contact_id),
        "enrollment_id": str(message.enrollment_id),
        "subject": message.subject,
        "queued_at": _iso(message.queued_at),
        "next_attempt_at": _iso(message.next_attempt_at),
        "sent_at": _iso(message.sent_at),
        "accepted_at": _iso(message.accepted_at),
        "last_error": message.last_error,
    }


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None
