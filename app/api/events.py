"""The events endpoint: custom events about contacts, one or a batch, idempotent by id."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import g, jsonify, request

from app.api import ApiError, api_bp
from app.services import events as event_service


@api_bp.post("/events")
def post_events() -> tuple[Any, int]:
    """202 with what became of each event: `stored` (with its id) or `duplicate`. The
    token's holder names the workspace and its tenant: no workspace row is loaded."""
    now = datetime.now(UTC)
    body = request.get_json(silent=True)
    if not isinstance(body, dict | list):
        raise ApiError(400, "the request body must be an event object or a list of them")
    owner = event_service.Owned(g.token.workspace_id, g.token.tenant_id)
    try:
        result = event_service.ingest_events(owner, body, now)
    except event_service.EventError as exc:
        raise ApiError(exc.status, str(exc), exc.field) from None
    return jsonify(result.to_dict()), 202
