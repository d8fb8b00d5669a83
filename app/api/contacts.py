"""Contact endpoints: create or update by email, read one."""

from __future__ import annotations

from typing import Any

from flask import g, jsonify

from app.api import ApiError, api_bp, json_body, owned
from app.extensions import db
from app.models import Workspace
from app.services import contacts as contact_service


@api_bp.post("/contacts")
def upsert_contact() -> tuple[Any, int]:
    workspace = db.session.get_one(Workspace, g.workspace_id)
    try:
        contact, created = contact_service.upsert_contact(workspace, json_body())
    except contact_service.ContactError as exc:
        raise ApiError(422, str(exc), exc.field) from None
    return jsonify(contact_service.contact_to_dict(contact)), 201 if created else 200


@api_bp.get("/contacts/<contact_id>")
def get_contact(contact_id: str) -> Any:
    contact = owned(contact_service.get_contact, contact_id, "contact")
    return jsonify(contact_service.contact_to_dict(contact))
