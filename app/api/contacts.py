"""Contact endpoints: create or update by email, read one, change one (recording changes),
delete one, erase one (GDPR: see app/services/contact_removal.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import g, jsonify

from app.api import ApiError, api_bp, json_body, owned
from app.extensions import db
from app.models import Workspace
from app.services import contact_removal
from app.services import contacts as contact_service


@api_bp.post("/contacts")
def upsert_contact() -> tuple[Any, int]:
    """Create or update by email; on an existing contact each changed value is recorded as
    a `field_changed` event, as PATCH records it."""
    workspace = db.session.get_one(Workspace, g.workspace_id)
    try:
        contact, created = contact_service.upsert_contact(workspace, json_body(), datetime.now(UTC))
    except contact_service.ContactError as exc:
        raise ApiError(422, str(exc), exc.field) from None
    return jsonify(contact_service.contact_to_dict(contact)), 201 if created else 200


@api_bp.get("/contacts/<contact_id>")
def get_contact(contact_id: str) -> Any:
    contact = owned(contact_service.get_contact, contact_id, "contact")
    return jsonify(contact_service.contact_to_dict(contact))


@api_bp.patch("/contacts/<contact_id>")
def patch_contact(contact_id: str) -> Any:
    """Change names, time zone, tags or custom fields; each changed value is recorded as a
    `field_changed` event that waiting enrollments can act on."""
    now = datetime.now(UTC)
    body = json_body()
    contact = owned(contact_service.get_contact_for_update, contact_id, "contact")
    try:
        contact_service.patch_contact(contact, body, now)
    except contact_service.ContactError as exc:
        raise ApiError(422, str(exc), exc.field) from None
    return jsonify(contact_service.contact_to_dict(contact))


@api_bp.delete("/contacts/<contact_id>")
def delete_contact(contact_id: str) -> tuple[str, int]:
    """Delete the contact and everything recorded about them (events, enrollments, emails)."""
    contact_removal.delete_contact(owned(contact_service.get_contact, contact_id, "contact"))
    return "", 204


@api_bp.post("/contacts/<contact_id>/erase")
def erase_contact(contact_id: str) -> Any:
    """Erase what identifies the contact, keeping what the reports count; the contact as
    left (an `erased-...@erased.invalid` address, no names, fields or tags)."""
    contact = owned(contact_service.get_contact, contact_id, "contact")
    contact_removal.erase_contact(contact, datetime.now(UTC))
    return jsonify(contact_service.contact_to_dict(contact))
