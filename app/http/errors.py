"""Errors the HTTP layer answers: JSON for the API and for requests that speak JSON (the
builder's canvas), an HTML page otherwise; a database that is down is 503, not 500."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, jsonify, make_response, render_template, request
from sqlalchemy.exc import InterfaceError, OperationalError
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from app.api import error_body
from app.http.limits import too_large_message

log = logging.getLogger(__name__)
RETRY_AFTER_SECONDS = 5


def install_error_handlers(app: Flask) -> None:
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(RequestEntityTooLarge, _too_large)
    app.register_error_handler(OperationalError, _database_unavailable)
    app.register_error_handler(InterfaceError, _database_unavailable)


def wants_json() -> bool:
    """The API, and any request that sends or prefers JSON (the builder's canvas does)."""
    if request.path == "/api" or request.path.startswith("/api/") or request.is_json:
        return True
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json"


def error_response(status: int, message: str, field: str | None = None) -> Response:
    """`{"error": {"message", "field", "step"}}` or the error page, with this status."""
    if wants_json():
        return make_response(jsonify(error_body(message, field)), status)
    page = render_template("errors/error.html", status=status, message=message)
    return make_response(page, status)


def _http_error(err: HTTPException) -> Any:
    """HTTP errors keep Werkzeug's page in HTML; JSON callers get the API's error body."""
    if err.code is None or not wants_json():
        return err
    return error_response(err.code, err.description or err.name, getattr(err, "field", None))


def _too_large(err: RequestEntityTooLarge) -> Response:
    return error_response(413, too_large_message())


def _database_unavailable(err: Exception) -> Any:
    """The database refused the connection or dropped it: a retryable 503."""
    log.error("database unavailable: %s", err)
    response = error_response(503, "the database is unavailable; try again shortly")
    response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response
