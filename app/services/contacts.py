"""Contacts: create or update by email, always inside one workspace."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from app.core.addresses import AddressError, email_key, normalise_address
from app.core.contact_input import ContactInputError, parse_contact_input
from app.extensions import db
from app.models import Contact, Workspace
from app.services.contact_changes import apply_changes, record_events

EDITABLE = ("first_name", "last_name", "timezone")


ContactError = ContactInputError
"""Refused contact input, naming the key at fault (`email`, `fields.plan`)."""


def normalise_email(value: Any) -> str:
    """One strict mailbox (see `app.core.addresses`), normalised; ContactError otherwise."""
    try:
        return normalise_address(value)
    except AddressError as exc:
        raise ContactError(str(exc), "email") from None


def upsert_contact(
    workspace: Workspace, data: dict[str, Any], now: datetime | None = None
) -> tuple[Contact, bool]:
    """Create the contact or update the one with this email; returns (contact, created).
    The body is checked by the same model as a change (`ContactInput`). `fields` are merged
    into the contact's and `tags` added to its own. On an existing contact each changed value
    is recorded as a `field_changed` event, so waits and goals on it react as after a PATCH."""
    now = now or datetime.now(UTC)
    data = parse_contact_input(data, creating=True)
    email = data["email"]
    fields, tags = data.get("fields") or {}, data.get("tags") or []
    contact = contacts_by_email(workspace.id, [email]).get(email)
    created = contact is None
    if contact is None:
        contact = Contact(
            id=uuid.uuid4(),
            email=email,
            tenant_id=workspace.tenant_id,
            workspace_id=workspace.id,
            fields={},
            tags=[],
        )
        db.session.add(contact)
    events = apply_changes(
        contact,
        now,
        "api",
        fields=fields,
        profile={name: data[name] for name in EDITABLE if name in data},
        tags=set(contact.tags) | set(tags) if tags else None,
    )
    record_events([] if created else events, now, changed={workspace.id: [contact.id]})
    return contact, created


def patch_contact(
    contact: Contact, data: dict[str, Any], now: datetime, source: str = "api"
) -> list[dict[str, Any]]:
    """Change what the body names, record each changed value as a `field_changed` event and
    wake the enrollments waiting for it; returns the events. Unchanged values record nothing.

    `fields` sets its keys and removes those given as null; `tags` replaces the tags.
    Everything is checked before anything changes. `source` says who changed it (api, ui).
    """
    data = parse_contact_input(data, creating=False)
    if "email" in data and data["email"] != contact.email:
        raise ContactError("email: a contact's email cannot be changed", "email")
    fields = data.get("fields") or {}
    events = apply_changes(
        contact,
        now,
        source,
        fields={key: value for key, value in fields.items() if value is not None},
        removed=[key for key, value in fields.items() if value is None],
        profile={name: data[name] for name in EDITABLE if name in data},
        tags=data.get("tags", contact.tags),
    )
    record_events(events, now, changed={contact.workspace_id: [contact.id]})
    return events


def get_contact(workspace_id: uuid.UUID, contact_id: uuid.UUID) -> Contact | None:
    return db.session.scalar(Contact.in_workspace(workspace_id, Contact.id == contact_id))


def get_contact_for_update(workspace_id: uuid.UUID, contact_id: uuid.UUID) -> Contact | None:
    """The contact, row-locked until commit: the processor's action effects take the same
    lock, so neither read-modify-write of tags and fields loses the other's change."""
    stmt = Contact.in_workspace(workspace_id, Contact.id == contact_id).with_for_update()
    return db.session.scalar(stmt)


def contacts_by_email(workspace_id: uuid.UUID, emails: list[str]) -> dict[str, Contact]:
    """{email as given: contact} for those of these addresses with a contact, found by key:
    `TOM@contoso.example` finds the contact stored as `tom@contoso.example`."""
    keys = {email: email_key(email) for email in emails}
    stmt = Contact.in_workspace(workspace_id, Contact.email_key.in_(set(keys.values())))
    found = {c.email_key: c for c in db.session.scalars(stmt)}
    return {email: found[key] for email, key in keys.items() if key in found}


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


def resolve_targets(
    workspace_id: uuid.UUID, body: dict[str, Any]
) -> tuple[list[Contact], list[dict[str, Any]]]:
    """The contacts an enroll request names, by email or id, and the ones it names in vain."""
    if "contacts" in body:
        entries = body["contacts"]
        if not isinstance(entries, list):
            raise ContactError('contacts must be a list of {"email": ...}', "contacts")
        emails = []
        for i, entry in enumerate(entries):
            if not isinstance(entry, dict):
                raise ContactError('each contact must be {"email": ...}', f"contacts[{i}]")
            try:
                emails.append(normalise_email(entry.get("email")))
            except ContactError as exc:
                raise ContactError(str(exc), f"contacts[{i}].email") from None
        by_email = contacts_by_email(workspace_id, emails)
        found = [by_email[e] for e in emails if e in by_email]
        unknown = [
            {"email": e, "reason": "no contact with this email"}
            for e in emails
            if e not in by_email
        ]
        return found, unknown
    if "contact_ids" in body:
        raw = body["contact_ids"]
        if not isinstance(raw, list):
            raise ContactError("contact_ids must be a list of ids", "contact_ids")
        ids: dict[str, uuid.UUID | None] = {}
        for value in raw:
            try:
                ids[str(value)] = uuid.UUID(str(value))
            except ValueError:
                ids[str(value)] = None
        by_id = contacts_by_id(workspace_id, [i for i in ids.values() if i is not None])
        found = [by_id[i] for i in ids.values() if i is not None and i in by_id]
        unknown = [
            {"contact_id": raw_id, "reason": "no contact with this id"}
            for raw_id, parsed in ids.items()
            if parsed is None or parsed not in by_id
        ]
        return found, unknown
    raise ContactError("send either 'contacts' or 'contact_ids'", "contacts")
