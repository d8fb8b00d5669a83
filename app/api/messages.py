"""Outbox endpoints: list the workspace's messages, send an interrupted or failed one again."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from flask import g, jsonify, request

from app.api import ApiError, api_bp, owned
from app.http.numbers import bounded_int
from app.models import OutboundMessage
from app.models.message import MESSAGE_STATUSES, RESENDABLE
from app.services import outbox as outbox_service
from app.services.outbox import ADDRESS_MAX, BadCursor, OutboxFilter


@api_bp.get("/messages")
def list_messages() -> Any:
    """A page of messages, newest first, filtered like the outbox page (`status`,
    `sequence`, `step`, `address`, `failing`); `limit` (at most 1000) and `cursor` (the
    `next_cursor` of the page before)."""
    args = request.args
    status = args.get("status") or None
    if status is not None and status not in MESSAGE_STATUSES:
        raise ApiError(422, f"status must be one of {', '.join(MESSAGE_STATUSES)}", "status")
    failing = args.get("failing", "false").lower()
    if failing not in ("true", "false"):
        raise ApiError(422, "failing must be true or false", "failing")
    address = args.get("address") or None
    if address is not None and len(address) > ADDRESS_MAX:
        raise ApiError(422, f"address must be at most {ADDRESS_MAX} characters", "address")
    filters = OutboxFilter(
        status, _uuid_arg("sequence"), _uuid_arg("step"), address, failing == "true"
    )
    limit = bounded_int(args.get("limit"), "limit", 100, 1, 1000)
    now = datetime.now(UTC)
    try:
        page = outbox_service.list_page(g.workspace_id, filters, now, args.get("cursor"), limit)
    except BadCursor as exc:
        raise ApiError(422, str(exc), "cursor") from None
    return jsonify(
        {
            "messages": [_message_json(row.OutboundMessage) for row in page.rows],
            "next_cursor": page.next_cursor,
        }
    )


def _uuid_arg(name: str) -> uuid.UUID | None:
    raw = request.args.get(name) or None
    try:
        return uuid.UUID(raw) if raw else None
    except ValueError:
        raise ApiError(422, f"{name} must be a UUID", name) from None


@api_bp.post("/messages/<message_id>/resend")
def resend_message(message_id: str) -> Any:
    """Queue an `unknown` or `failed` message again; 409 in any other state."""
    found = owned(outbox_service.get_message, message_id, "message")
    if not outbox_service.send_again(g.workspace_id, found.id, datetime.now(UTC)):
        allowed = " or ".join(RESENDABLE)
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
