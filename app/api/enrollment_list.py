"""`GET /api/enrollments`: the workspace's enrollments by the enrollments list's filter,
paged by an opaque cursor (newest first), with how many match."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import g, jsonify, request

from app.api import ApiError, api_bp
from app.http.numbers import ParameterError, bounded_int
from app.services import enrollment as enrollment_service
from app.services import enrollment_query
from app.services.enrollment_query import FilterError

DEFAULT_LIMIT = 50
MAX_LIMIT = 200


@api_bp.get("/enrollments")
def list_enrollments() -> Any:
    """Query parameters as in the enrollments page (services/enrollment_query.PARAMS),
    `cursor` from the previous answer's `next_cursor`, `limit` 1 to 200. A bad value is
    422 naming it; a sequence or step of another workspace is 404."""
    now = datetime.now(UTC)
    try:
        flt = enrollment_query.parse(request.args)
    except FilterError as exc:
        raise ApiError(422, exc.message, exc.field) from None
    try:
        limit = bounded_int(request.args.get("limit"), "limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
    except ParameterError as exc:
        raise ApiError(422, exc.description, exc.field) from None
    foreign = enrollment_query.unknown_reference(g.workspace_id, flt)
    if foreign is not None:
        raise ApiError(
            404, f"no such {'sequence' if foreign == 'sequence_id' else foreign}", foreign
        )
    try:
        page = enrollment_query.page(
            g.workspace_id, flt, now, request.args.get("cursor") or None, limit
        )
    except FilterError as exc:
        raise ApiError(422, exc.message, exc.field) from None
    history = enrollment_service.earlier_runs(r.ContactSequence.id for r in page.rows)
    return jsonify(
        {
            "enrollments": [
                enrollment_service.enrollment_to_dict(r, history[r.ContactSequence.id])
                for r in page.rows
            ],
            "next_cursor": page.next_cursor,
            "count": enrollment_query.count(g.workspace_id, flt, now),
        }
    )
