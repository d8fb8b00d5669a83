"""Reading the "new contact" and "edit contact" forms into what the contacts service takes,
with an inline error per field for what the service itself does not check."""

from __future__ import annotations

import json
from typing import Any

from werkzeug.datastructures import MultiDict

from app.core.contact_input import field_key_problem
from app.models import Contact

NEW_FIELD_ROWS = 2
"""Blank rows the edit form offers for adding custom fields."""


def tags_text(tags: list[str]) -> str:
    return "; ".join(tags)


def parse_tags(raw: str) -> list[str]:
    """Tags typed as "vip; beta": trimmed, blanks dropped."""
    return [tag.strip() for tag in raw.split(";") if tag.strip()]


def field_text(value: Any) -> str:
    """A custom field as its form shows it: text as is, anything else as JSON."""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def new_contact_data(form: MultiDict[str, str]) -> dict[str, Any]:
    """The upsert body of the new-contact form; blank inputs are left out."""
    data: dict[str, Any] = {"email": form.get("email", "").strip()}
    for name in ("first_name", "last_name", "timezone"):
        value = form.get(name, "").strip()
        if value:
            data[name] = value
    tags = parse_tags(form.get("tags", ""))
    if tags:
        data["tags"] = tags
    return data


def edit_data(contact: Contact, form: MultiDict[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
    """The patch body of the edit form and the errors found in its custom field rows.

    A blank name or time zone clears it; a blank field value removes the field. A value
    left as shown is not sent, so a stored number or list is not turned into text."""
    data: dict[str, Any] = {"tags": parse_tags(form.get("tags", ""))}
    for name in ("first_name", "last_name", "timezone"):
        data[name] = form.get(name, "").strip() or None
    fields: dict[str, Any] = {}
    errors: dict[str, str] = {}
    keys, values = form.getlist("field_key"), form.getlist("field_value")
    for raw_key, raw in zip(keys, values, strict=False):
        key, value = raw_key.strip(), raw.strip()
        if not key:
            if value:
                errors["fields"] = f"Name the custom field for the value {value!r}."
            continue
        if problem := field_key_problem(key):
            errors["fields"] = problem[:1].upper() + problem[1:] + "."
        elif key in fields:
            errors["fields"] = f"The custom field {key!r} appears twice."
        elif key in contact.fields and raw == field_text(contact.fields[key]):
            fields[key] = contact.fields[key]
        else:
            fields[key] = value or None
    data["fields"] = fields
    return data, errors


def edit_values(contact: Contact, form: MultiDict[str, str] | None) -> dict[str, Any]:
    """What the edit form shows: the contact as stored, or the rejected submission as typed.
    Each field row is {key, value, known}; a known key is shown, not typed again."""
    if form is None:
        rows = [
            {"key": key, "value": field_text(value), "known": True}
            for key, value in sorted(contact.fields.items())
        ]
        values = {
            "first_name": contact.first_name or "",
            "last_name": contact.last_name or "",
            "timezone": contact.timezone or "",
            "tags": tags_text(contact.tags),
        }
    else:
        pairs = zip(form.getlist("field_key"), form.getlist("field_value"), strict=False)
        rows = [
            {"key": key, "value": value, "known": key in contact.fields}
            for key, value in pairs
            if key.strip() or value.strip()
        ]
        values = {name: form.get(name, "") for name in ("first_name", "last_name", "timezone")}
        values["tags"] = form.get("tags", "")
    blank = {"key": "", "value": "", "known": False}
    return {**values, "rows": [*rows, *([blank] * NEW_FIELD_ROWS)]}
