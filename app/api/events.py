"""The events endpoint: custom events about contacts, one or a batch, idempotent by id."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import g, jsonify, request

from app.api import ApiError, api_bp
from app.extensions import db
from app.models import Workspace
from app.services import events as event_service


@api_bp.post("/events")
def post_events() -> tuple[Any, int]:
    """202 with what became of each event: `stored` (with its id) or `duplicate`."""
    now = datetime.now(UTC)
    body = request.get_json(silent=True)
    if not isinstance(body, dict | list):
        raise ApiError(400, "the request body must be an event object or a list of them")
    workspace = db.session.get_one(Workspace, g.workspace_id)
    try:
        result = event_service.ingest_events(workspace, body, now)
    except event_service.EventError as exc:
        raise ApiError(exc.status, str(exc), exc.field) from None
    return jsonify(result.to_dict()), 202
