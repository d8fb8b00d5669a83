"""Contacts: create or update by email, always inside one workspace."""

from __future__ import annotations

import uuid
from typing import Any

from app.core.timing import load_zone
from app.extensions import db
from app.models import Contact, Workspace

EDITABLE = ("first_name", "last_name", "timezone")


class ContactError(ValueError):
    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


def normalise_email(value: Any) -> str:
    email = str(value or "").strip()
    local, _, domain = email.partition("@")
    if not local or "." not in domain or any(c.isspace() or ord(c) < 32 for c in email):
        raise ContactError(f"{email!r} is not an email address", "email")
    return local + "@" + domain.lower()


def upsert_contact(workspace: Workspace, data: dict[str, Any]) -> tuple[Contact, bool]:
    """Create the contact or update the one with this email; returns (contact, created)."""
    email = normalise_email(data.get("email"))
    zone = data.get("timezone")
    if zone is not None and load_zone(zone) is None:
        raise ContactError(f"{zone!r} is not an IANA time zone such as 'Europe/Paris'", "timezone")
    fields = data.get("fields", {})
    if not isinstance(fields, dict):
        raise ContactError("fields must be an object of custom field values", "fields")
    tags = data.get("tags", [])
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise ContactError("tags must be a list of strings", "tags")
    contact = db.session.scalar(Contact.in_workspace(workspace.id, Contact.email == email))
    created = contact is None
    if contact is None:
        contact = Contact(
            email=email,
            tenant_id=workspace.tenant_id,
            workspace_id=workspace.id,
            fields={},
            tags=[],
        )
        db.session.add(contact)
    for name in EDITABLE:
        if name in data:
            setattr(contact, name, data[name])
    if fields:
        contact.fields = {**contact.fields, **fields}
    if tags:
        contact.tags = sorted(set(contact.tags) | set(tags))
    db.session.commit()
    return contact, created


def get_contact(workspace_id: uuid.UUID, contact_id: uuid.UUID) -> Contact | None:
    return db.session.scalar(Contact.in_workspace(workspace_id, Contact.id == contact_id))


def contacts_by_email(workspace_id: uuid.UUID, emails: list[str]) -> dict[str, Contact]:
    found = db.session.scalars(Contact.in_workspace(workspace_id, Contact.email.in_(emails)))
    return {c.email: c for c in found}


def contacts_by_id(workspace_id: uuid.UUID, ids: list[uuid.UUID]) -> dict[uuid.UUID, Contact]:
    found = db.session.scalars(Contact.in_workspace(workspace_id, Contact.id.in_(ids)))
    return {c.id: c for c in found}


def contact_to_dict(contact: Contact) -> dict[str, Any]:
    return {
        "id": str(contact.id),
        "email": contact.email,
        "first_name": contact.first_name,
        "last_name": contact.last_name,
        "timezone": contact.timezone,
        "fields": contact.fields,
        "tags": contact.tags,
        "unsubscribed_at": contact.unsubscribed_at.isoformat() if contact.unsubscribed_at else None,
        "created_at": contact.created_at.isoformat(),
    }
