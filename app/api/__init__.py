"""The JSON API: Bearer-token auth, every query scoped to the token's workspace."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from flask import Blueprint, g, jsonify, request
from werkzeug.exceptions import HTTPException

from app.core.format.problems import DefinitionError
from app.services.accounts import AccountError, token_holder

api_bp = Blueprint("api", __name__, url_prefix="/api")
T = TypeVar("T")
PUBLIC_ENDPOINTS = frozenset({"api.openapi_document"})
"""Answered without a token: the OpenAPI document, so tools can read it first."""


class ApiError(Exception):
    """An error answered as `{"error": {"message", "field", "step"}}`."""

    def __init__(
        self, status: int, message: str, field: str | None = None, step: str | None = None
    ) -> None:
        super().__init__(message)
        self.status, self.message, self.field, self.step = status, message, field, step


def error_body(message: str, field: str | None = None, step: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "field": field, "step": step}}


@api_bp.errorhandler(ApiError)
def _api_error(err: ApiError) -> tuple[Any, int]:
    return jsonify(error_body(err.message, err.field, err.step)), err.status


@api_bp.errorhandler(DefinitionError)
def _definition_error(err: DefinitionError) -> tuple[Any, int]:
    first = err.problems[0]
    body = error_body(first.message, first.field, first.step)
    body["error"]["problems"] = [
        {"message": p.message, "field": p.field, "step": p.step} for p in err.problems
    ]
    return jsonify(body), 422


@api_bp.errorhandler(HTTPException)
def _http_error(err: HTTPException) -> tuple[Any, int]:
    field = getattr(err, "field", None)  # the HTTP layer's 400s name their field
    return jsonify(error_body(err.description or err.name, field)), err.code or 500


def bearer_token(header: str) -> str | None:
    """The token of an `Authorization: Bearer <token>` header, or None."""
    scheme, _, token = header.partition(" ")
    return (token.strip() or None) if scheme.lower() == "bearer" else None


@api_bp.before_request
def _authenticate() -> None:
    if request.endpoint in PUBLIC_ENDPOINTS:
        return
    token = bearer_token(request.headers.get("Authorization", ""))
    if token is None:
        raise ApiError(401, "send an API token as 'Authorization: Bearer <token>'")
    try:
        holder = token_holder(token, datetime.now(UTC))
    except AccountError as exc:  # unknown or revoked
        raise ApiError(401, str(exc)) from None
    g.token = holder
    g.workspace_id = holder.workspace_id
    g.actor = f"API token '{holder.name}' ({holder.prefix})"  # who acted, for decisions by hand


def owned(load: Callable[[uuid.UUID, uuid.UUID], T | None], raw_id: str, what: str) -> T:
    """The workspace's record with this id; 404 for a bad id, a missing one or another's."""
    try:
        wanted = uuid.UUID(raw_id)
    except ValueError:
        raise ApiError(404, f"no such {what}") from None
    record = load(g.workspace_id, wanted)
    if record is None:
        raise ApiError(404, f"no such {what}")
    return record


def json_body() -> dict[str, Any]:
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise ApiError(400, "the request body must be a JSON object")
    return data


from app.api import (  # noqa: E402,F401  (routes register on import)
    contacts,
    enrollment_list,
    enrollment_story,
    enrollments,
    events,
    health,
    inbound,
    messages,
    openapi,
    sequences,
    transfer,
    versions,
)
