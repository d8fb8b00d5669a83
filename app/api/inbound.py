"""Inbound email: a reply, a bounce or a complaint (ARF), posted by the mail server (or a relay)
as raw RFC 5322."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import g, jsonify, request

from app.api import ApiError, api_bp
from app.extensions import db
from app.models import Workspace
from app.services import inbound as inbound_service

FORM_TYPES = ("multipart/form-data", "application/x-www-form-urlencoded")


@api_bp.post("/inbound/email")
def post_inbound_email() -> tuple[Any, int]:
    """202 `{"matched": false}`, or `{"matched": true, "event", "enrollment_exited"}`.

    The email is the request body (`Content-Type: message/rfc822`) or a form field
    `message` (a file or text).
    """
    now = datetime.now(UTC)
    workspace = db.session.get_one(Workspace, g.workspace_id)
    try:
        result = inbound_service.receive(workspace, _raw_message(), now)
    except inbound_service.InboundError as exc:
        raise ApiError(400, str(exc), exc.field) from None
    return jsonify(result.to_dict()), 202


def _raw_message() -> bytes | None:
    if request.mimetype in FORM_TYPES:
        upload = request.files.get("message")
        if upload is not None:
            return upload.read()
        text = request.form.get("message")
        return text.encode("utf-8", "surrogateescape") if text is not None else None
    return request.get_data(cache=False)
