"""Hosted forms: one per `form_submission` trigger name, served publicly at `/f/<public_id>`.

A submission creates or updates the contact, records a `form_submitted` event and enrolls
the contact wherever an active sequence's form trigger names the form. The page is public
and embeddable, so it carries no CSRF token: a hidden honeypot field and a per-IP rate
limit (counted from the log of accepted submissions, one indexed query) keep bots out.
A post caught by either stores nothing at all, so a flood of them costs no rows; the log
grows only with accepted submissions, which the rate limit caps. Client IPs are stored
only as a salted hash.
"""

from __future__ import annotations

import math
import re
import secrets
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError

from app.core.events import FORM_SUBMITTED
from app.core.limits import YEAR_MAX, YEAR_MIN
from app.core.text_rules import multi_line_problem, single_line_problem
from app.core.timing import load_zone, local_to_utc
from app.extensions import db
from app.models import Contact, ContactEvent, Form, FormSubmission, Sequence
from app.services import triggers
from app.services.clients import client_hash
from app.services.contact_changes import apply_changes, record_events
from app.services.contacts import ContactError, contacts_by_email, normalise_email

HONEYPOT = "website"
"""A field people never see (hidden by CSS, skipped by Tab) and form-filling bots fill in."""
RATE_LIMIT = 5
RATE_WINDOW = timedelta(minutes=10)
"""At most RATE_LIMIT accepted submissions per client IP per form within RATE_WINDOW."""

FIELD_TYPES = ("text", "email", "tel", "textarea", "number", "datetime", "select", "hidden")
"""`datetime` is read in the field's `timezone` and stored with its UTC offset; `select`
takes one of its `options`; `hidden` is never shown and always stores its fixed `value`
(what a visitor posts for it is ignored), e.g. the date of the webinar a page is about."""
MAX_OPTIONS = 50
CONTACT_COLUMNS = ("first_name", "last_name")
"""Fields stored on the contact's own columns; any other field goes in `contact.fields`."""
RESERVED_NAMES = frozenset({HONEYPOT, "csrf_token"})
FIELD_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
MAX_LABEL = 100
MAX_MESSAGE = 1000
MAX_URL = 2000
MAX_VALUE = {"email": 320, "first_name": 255, "last_name": 255}
MAX_CUSTOM_VALUE = 2000

DEFAULT_FIELDS: list[dict[str, Any]] = [
    {"name": "email", "label": "Email", "type": "email", "required": True},
    {"name": "first_name", "label": "First name", "type": "text", "required": False},
]
DEFAULT_SETTINGS: dict[str, Any] = {
    "success_message": "Thank you! Check your inbox in a moment.",
    "redirect_url": "",
}


class FormError(ValueError):
    """Refused form settings: a message per field key (`success_message`, `fields.2.label`)."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


@dataclass
class SubmitResult:
    """What became of a submission: accepted, honeypot, rate_limited or invalid."""

    outcome: str
    values: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    contact_id: uuid.UUID | None = None
    created: bool = False
    enrolled_in: list[uuid.UUID] = field(default_factory=list)  # sequence ids
    events: list[dict[str, Any]] = field(default_factory=list)  # form_submitted, field changes


@dataclass
class FormOverview:
    """A form as the forms page lists it."""

    form: Form
    sequences: list[Sequence]
    accepted: int  # submissions accepted (refused ones are not stored, so not counted)


# --- forms ------------------------------------------------------------------------------


def ensure_form(workspace_id: uuid.UUID, tenant_id: uuid.UUID, name: str) -> Form:
    """The workspace's form of this name, created with the default fields if missing; safe
    against a concurrent creation of the same one (the insert then does nothing)."""
    _insert_missing(workspace_id, tenant_id, [name])
    db.session.commit()
    return db.session.scalars(Form.in_workspace(workspace_id, Form.name == name)).one()


def ensure_forms_for_workspace(workspace_id: uuid.UUID) -> list[Form]:
    """A form for every form trigger of the workspace's sequences (archived ones aside);
    returns all the workspace's forms by name."""
    sequences = _form_sequences(workspace_id)
    if sequences:
        names = {_form_name(s) for s in sequences}
        existing = set(
            db.session.scalars(select(Form.name).where(Form.workspace_id == workspace_id))
        )
        if names - existing:
            _insert_missing(workspace_id, sequences[0].tenant_id, sorted(names - existing))
            db.session.commit()
    return list(db.session.scalars(Form.in_workspace(workspace_id).order_by(Form.name)))


def overview(workspace_id: uuid.UUID) -> list[FormOverview]:
    """Every form with the sequences it triggers and its accepted submissions counted."""
    forms = ensure_forms_for_workspace(workspace_id)
    by_name: dict[str, list[Sequence]] = {}
    for sequence in _form_sequences(workspace_id):
        by_name.setdefault(_form_name(sequence), []).append(sequence)
    rows = db.session.execute(
        select(FormSubmission.form_id, func.count())
        .where(FormSubmission.workspace_id == workspace_id, FormSubmission.outcome == "accepted")
        .group_by(FormSubmission.form_id)
    )
    accepted: dict[uuid.UUID, int] = {form_id: count for form_id, count in rows}
    return [
        FormOverview(form, by_name.get(form.name, []), accepted.get(form.id, 0)) for form in forms
    ]


def get_form(workspace_id: uuid.UUID, form_id: uuid.UUID) -> Form | None:
    return db.session.scalar(Form.in_workspace(workspace_id, Form.id == form_id))


def get_public(public_id: str) -> Form | None:
    """The form behind a public link; the unguessable id is the only key a visitor has."""
    return db.session.scalar(select(Form).where(Form.public_id == public_id))


def settings_of(form: Form) -> dict[str, Any]:
    """The form's settings with defaults for anything unset."""
    return {**DEFAULT_SETTINGS, **(form.settings or {})}


def update_form(form: Form, data: Mapping[str, Any]) -> Form:
    """Change what `data` names (`fields`, `success_message`, `redirect_url`) after checking
    all of it; FormError names every problem and nothing is saved."""
    errors: dict[str, str] = {}
    fields = form.fields
    if "fields" in data:
        fields = _checked_fields(data["fields"], errors)
    settings = settings_of(form)
    if "success_message" in data:
        message = str(data["success_message"] or "").strip()
        if not message:
            errors["success_message"] = "write the message people see after submitting"
        elif len(message) > MAX_MESSAGE:
            errors["success_message"] = f"keep the message under {MAX_MESSAGE} characters"
        settings["success_message"] = message
    if "redirect_url" in data:
        url = str(data["redirect_url"] or "").strip()
        problem = _redirect_problem(url)
        if problem:
            errors["redirect_url"] = problem
        settings["redirect_url"] = url
    if errors:
        raise FormError(errors)
    form.fields = fields
    form.settings = settings
    db.session.commit()
    return form


# --- submissions ------------------------------------------------------------------------


def submit(form: Form, data: Mapping[str, str], ip: str, now: datetime) -> SubmitResult:
    """Take one POST of the hosted form; see the module docstring for what it does."""
    if str(data.get(HONEYPOT) or "").strip():
        return SubmitResult("honeypot")
    values, errors = _checked_values(form, data)
    if _recent_accepted(form, client_hash(ip), now) >= RATE_LIMIT:  # no lock: refusing is cheap
        db.session.rollback()
        return SubmitResult("rate_limited", values)
    try:
        return _record(form, values, errors, client_hash(ip), now)
    except IntegrityError:  # the same new email arrived at the same moment through another form
        db.session.rollback()
        return _record(form, values, errors, client_hash(ip), now)


def _record(
    form: Form, values: dict[str, Any], errors: dict[str, str], ip_hash: str, now: datetime
) -> SubmitResult:
    """Rate limit, then store contact, event and log entry in one transaction. The form's
    row lock (PostgreSQL) serialises its submissions, so the count is exact; a refused
    submission stores nothing."""
    db.session.execute(select(Form.id).where(Form.id == form.id).with_for_update())
    if _recent_accepted(form, ip_hash, now) >= RATE_LIMIT:
        db.session.rollback()
        return SubmitResult("rate_limited", values)
    if errors:
        db.session.rollback()
        return SubmitResult("invalid", values, errors)
    try:
        contact, created, changes = _upsert_contact(form, values, now)
    except ContactError as exc:  # a value the contact cannot take (too many custom fields)
        db.session.rollback()
        return SubmitResult("invalid", values, {exc.field: str(exc)})
    event = ContactEvent(
        tenant_id=form.tenant_id,
        workspace_id=form.workspace_id,
        contact_id=contact.id,
        type=FORM_SUBMITTED,
        properties={"form": form.name, "fields": values},
        occurred_at=now,
        recorded_at=now,
        source="form",
    )
    _log(form, ip_hash, contact.id, now)
    result = SubmitResult("accepted", values, contact_id=contact.id, created=created)

    def enroll(stored: list[dict[str, Any]]) -> None:
        """Through the form's triggers, before the reactions (a goal may end the new run)."""
        enrolled = triggers.enroll_on_trigger(
            form.workspace_id,
            "form_submission",
            form.name,
            [contact],
            now,
            context={"trigger": {"form": form.name, "properties": values}},
        )
        result.enrolled_in = [sid for sid, outcome in enrolled.items() if outcome.enrolled]
        result.events = stored

    changed = {form.workspace_id: [contact.id]}
    record_events([event, *changes], now, changed=changed, after_commit=enroll)
    return result


def _recent_accepted(form: Form, ip_hash: str, now: datetime) -> int:
    """Submissions accepted from this client on this form within RATE_WINDOW (one lookup on
    the form, IP and time index)."""
    return db.session.scalar(
        select(func.count())
        .select_from(FormSubmission)
        .where(
            FormSubmission.form_id == form.id,
            FormSubmission.ip_hash == ip_hash,
            FormSubmission.submitted_at > now - RATE_WINDOW,
            FormSubmission.outcome == "accepted",
        )
    )


def _upsert_contact(
    form: Form, values: dict[str, Any], now: datetime
) -> tuple[Contact, bool, list[dict[str, Any]]]:
    """Create the contact or update the fields submitted non-empty, with the `field_changed`
    events of an existing contact's changes; unsubscribes and the suppression list are never
    touched (enrolling skips those contacts)."""
    contact = contacts_by_email(form.workspace_id, [values["email"]]).get(values["email"])
    created = contact is None
    if contact is None:
        contact = Contact(
            id=uuid.uuid4(),
            tenant_id=form.tenant_id,
            workspace_id=form.workspace_id,
            email=values["email"],
            fields={},
            tags=[],
        )
        db.session.add(contact)
    given = {k: v for k, v in values.items() if k != "email" and v is not None and v != ""}
    changes = apply_changes(
        contact,
        now,
        "form",
        fields={k: v for k, v in given.items() if k not in CONTACT_COLUMNS},
        profile={k: v for k, v in given.items() if k in CONTACT_COLUMNS},
    )
    db.session.flush()
    return contact, created, [] if created else changes


def field_is_fixed(spec: Mapping[str, Any]) -> bool:
    """A hidden field with its value set: every submission carries that value."""
    return spec.get("type") == "hidden" and bool(str(spec.get("value") or "").strip())


def _checked_values(form: Form, data: Mapping[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
    """The submitted values of the form's fields (others ignored), and a message per bad one;
    numbers and date-times are stored typed (a number, an ISO date-time with its offset)."""
    values: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for spec in form.fields:
        name, label = spec["name"], spec.get("label") or spec["name"]
        if spec.get("type") == "hidden":
            values[name] = str(spec.get("value") or "")
            continue
        value = str(data.get(name) or "").strip()
        values[name] = value
        limit = MAX_VALUE.get(name, MAX_CUSTOM_VALUE)
        if not value:
            if spec.get("required") or name == "email":
                errors[name] = f"{label} is required"
        elif len(value) > limit:
            errors[name] = f"{label} must be at most {limit} characters"
        elif problem := _text_problem(spec, value):
            errors[name] = f"{label} {problem}"
        elif spec.get("type") in _TYPED:
            typed = _TYPED[spec["type"]](spec, value)
            if isinstance(typed, _Refused):
                errors[name] = f"{label}: {typed.message}"
            else:
                values[name] = typed
        elif name == "email":
            try:
                values[name] = normalise_email(value)
            except ContactError:
                errors[name] = "enter a valid email address, such as name@example.com"
    return values, errors


@dataclass(frozen=True)
class _Refused:
    message: str


def _number(spec: Mapping[str, Any], value: str) -> Any:
    try:
        number = float(value.replace(",", "."))
    except ValueError:
        return _Refused("enter a number, such as 12 or 4.5")
    if not math.isfinite(number):
        return _Refused("enter a number, such as 12 or 4.5")
    return int(number) if number.is_integer() and abs(number) < 2**53 else number


def _datetime(spec: Mapping[str, Any], value: str) -> Any:
    """The wall-clock time the visitor entered, in the field's zone, kept with the offset
    in force then (so a reminder "1 hour before" is right across daylight-saving)."""
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return _Refused("enter a date and time, such as 2026-12-17 17:00")
    zone = load_zone(spec.get("timezone")) or ZoneInfo("UTC")
    if moment.tzinfo is None:
        moment = local_to_utc(moment, zone).astimezone(zone)
    if not YEAR_MIN <= moment.year <= YEAR_MAX:
        return _Refused(f"enter a year from {YEAR_MIN} to {YEAR_MAX}")
    return moment.isoformat()


def _choice(spec: Mapping[str, Any], value: str) -> Any:
    options = [str(option) for option in spec.get("options") or []]
    return value if value in options else _Refused(f"choose one of {', '.join(options)}")


_TYPED = {"number": _number, "datetime": _datetime, "select": _choice}


def _text_problem(spec: Mapping[str, Any], value: str) -> str | None:
    """Only a custom textarea may hold line breaks: names end up in mail headers."""
    multi = spec.get("type") == "textarea" and spec["name"] not in (*CONTACT_COLUMNS, "email")
    return multi_line_problem(value) if multi else single_line_problem(value)


def _checked_fields(raw: Any, errors: dict[str, str]) -> list[dict[str, Any]]:
    if not isinstance(raw, list) or not raw:
        errors["fields"] = "a form needs at least its email field"
        return []
    fields: list[dict[str, Any]] = []
    seen: set[str] = set()
    for i, spec in enumerate(raw):
        key = f"fields.{i}"
        if not isinstance(spec, Mapping):
            errors[key] = "each field must be an object with name, label, type and required"
            continue
        name = str(spec.get("name") or "").strip()
        label = str(spec.get("label") or "").strip()
        kind = str(spec.get("type") or "text")
        if not FIELD_NAME.match(name):
            errors[f"{key}.name"] = (
                "a field name uses lowercase letters, digits and _ and starts with a letter"
            )
        elif name in RESERVED_NAMES:
            errors[f"{key}.name"] = f"{name!r} is reserved; choose another name"
        elif name in seen:
            errors[f"{key}.name"] = f"the form already has a field named {name!r}"
        seen.add(name)
        if not label:
            errors[f"{key}.label"] = "give the field a label"
        elif len(label) > MAX_LABEL:
            errors[f"{key}.label"] = f"keep the label under {MAX_LABEL} characters"
        if kind not in FIELD_TYPES:
            errors[f"{key}.type"] = f"choose one of {', '.join(FIELD_TYPES)}"
        required = (bool(spec.get("required")) or name == "email") and kind != "hidden"
        checked = {
            "name": name,
            "label": label,
            "type": "email" if name == "email" else kind,
            "required": required,
        }
        checked.update(_type_settings(kind, spec, key, errors))
        fields.append(checked)
    if "email" not in seen:
        errors["fields"] = "the email field cannot be removed: it identifies the contact"
    return fields


def _type_settings(
    kind: str, spec: Mapping[str, Any], key: str, errors: dict[str, str]
) -> dict[str, Any]:
    """What a type needs besides its name and label: a select's options, a date-time's
    zone, a hidden field's fixed value; refused ones named by key (`fields.3.options`)."""
    if kind == "select":
        raw = spec.get("options") or []
        raw = raw.splitlines() if isinstance(raw, str) else raw
        options = [str(o).strip() for o in raw if str(o).strip()]
        if not options:
            errors[f"{key}.options"] = "give the choices, one per line"
        elif len(options) > MAX_OPTIONS or len(set(options)) != len(options):
            errors[f"{key}.options"] = f"give up to {MAX_OPTIONS} different choices"
        elif any(len(o) > MAX_LABEL or single_line_problem(o) for o in options):
            errors[f"{key}.options"] = f"keep each choice on one line, under {MAX_LABEL} characters"
        return {"options": options}
    if kind == "datetime":
        zone = str(spec.get("timezone") or "").strip()
        if load_zone(zone) is None:
            errors[f"{key}.timezone"] = (
                "choose the time zone visitors' answers are in, such as Europe/Paris"
            )
        return {"timezone": zone}
    if kind == "hidden":
        value = str(spec.get("value") or "").strip()
        if not value:
            errors[f"{key}.value"] = "give the value every submission carries"
        elif len(value) > MAX_CUSTOM_VALUE or single_line_problem(value):
            errors[f"{key}.value"] = (
                f"keep the value on one line, under {MAX_CUSTOM_VALUE} characters"
            )
        return {"value": value}
    return {}


def _redirect_problem(url: str) -> str | None:
    """Why a redirect URL is refused: only absolute http(s) addresses (no `javascript:`)."""
    if not url:
        return None
    parts = urlsplit(url)
    if (
        parts.scheme not in ("http", "https")
        or not parts.netloc
        or len(url) > MAX_URL
        or any(c.isspace() or ord(c) < 32 for c in url)
    ):
        return "enter a full http:// or https:// address, or leave it empty"
    return None


def _log(form: Form, ip_hash: str, contact_id: uuid.UUID, now: datetime) -> None:
    """The accepted submission, which the rate limit counts."""
    db.session.add(
        FormSubmission(
            tenant_id=form.tenant_id,
            workspace_id=form.workspace_id,
            form_id=form.id,
            contact_id=contact_id,
            ip_hash=ip_hash,
            outcome="accepted",
            submitted_at=now,
        )
    )


def _insert_missing(workspace_id: uuid.UUID, tenant_id: uuid.UUID, names: list[str]) -> None:
    """Insert forms by these names unless present (ON CONFLICT DO NOTHING); caller commits."""
    dialect = db.session.connection().dialect.name
    make_insert = pg_insert if dialect == "postgresql" else sqlite_insert
    rows = [
        {
            "id": uuid.uuid4(),
            "tenant_id": tenant_id,
            "workspace_id": workspace_id,
            "name": name,
            "public_id": secrets.token_urlsafe(12),
            "fields": [dict(f) for f in DEFAULT_FIELDS],
            "settings": dict(DEFAULT_SETTINGS),
        }
        for name in names
    ]
    db.session.execute(
        make_insert(Form.__table__)
        .values(rows)
        .on_conflict_do_nothing(index_elements=["workspace_id", "name"])
    )


def _form_sequences(workspace_id: uuid.UUID) -> list[Sequence]:
    """The workspace's sequences (archived aside) whose trigger names a form."""
    candidates = db.session.scalars(
        Sequence.in_workspace(
            workspace_id, Sequence.status != "archived", Sequence.listed()
        ).order_by(Sequence.name)
    )
    return [s for s in candidates if _form_name(s)]


def _form_name(sequence: Sequence) -> str:
    trigger = sequence.trigger_config or {}
    if trigger.get("type") != "form_submission":
        return ""
    return str(trigger.get("form") or "")
