"""The builder's settings panels (HTMX fragments): a step's form, the sequence's settings
and the email preview. See docs/builder.md for the contract with the page and the canvas.

Invalid input answers 200 with the form and inline errors (htmx swaps only 2xx answers)
and saves nothing; a save answers the form again plus an HX-Trigger `pm-graph` event with
the new state. Stale versions answer 409 and refused edits 422, as JSON like the canvas.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from zoneinfo import available_timezones

from flask import abort, make_response, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user, login_required
from sqlalchemy import select

from app.core.steps import kind_of
from app.extensions import db
from app.mail.rendering import RenderError, render_email
from app.models import Contact, Segment, Sequence, SequenceStep
from app.services import builder
from app.services.dispatcher import template_context
from app.services.render_limits import render_limits
from app.services.template_budget import SAMPLE_CONTACT, email_budget_problems
from app.web import web_bp
from app.web.builder import editor_version, owned_sequence, refusal
from app.web.settings_form import settings_from_form, settings_to_form
from app.web.step_forms import (
    MAX_CONDITION_DEPTH,
    FormData,
    apply_op,
    config_from_form,
    email_preview_parts,
    form_from_config,
    place_problems,
    step_name,
)

PREVIEW_CONTACTS = 50
_FIELD_SCAN_LIMIT = 500
"""Custom field names come from this many contacts: enough to list a workspace's fields."""


@dataclass
class _SampleContact:
    """The checklist's sample contact, shaped like a Contact for `template_context`."""

    email: str
    first_name: str
    last_name: str
    timezone: str
    tags: list[str]
    fields: dict[str, Any]


# --- Routes --------------------------------------------------------------------------------------


@web_bp.route("/sequences/<uuid:sequence_id>/steps/<step_id>/panel", methods=["GET", "POST"])
@login_required
def step_panel(sequence_id: uuid.UUID, step_id: str) -> ResponseReturnValue:
    sequence = owned_sequence(sequence_id)
    step = _step_or_404(sequence, step_id)
    if request.method == "GET":
        return _step_fragment(sequence, step, form_from_config(step.type, step.config, step.name))
    if request.form.get("_op"):
        return _step_fragment(sequence, step, FormData(apply_op(request.form, request.form["_op"])))
    config, form = config_from_form(step.type, request.form)
    if config is not None and step.type == "email":
        over_budget = email_budget_problems(step.key, config)
        place_problems(form, over_budget, lambda path: path.removeprefix("config."))
        config = None if over_budget else config
    if config is None:
        return _step_fragment(sequence, step, form)
    try:
        state = builder.update_step(
            sequence,
            step.key,
            name=step_name(request.form),
            config=config,
            version=editor_version(),
        )
    except (builder.VersionConflict, builder.EditRefused) as exc:
        return refusal(exc)
    saved = form_from_config(step.type, step.config, step.name)
    for key in ("preview.contact", "preview.variant"):
        saved.values.setlist(key, request.form.getlist(key))
    return _step_fragment(sequence, step, saved, state=state)


@web_bp.route("/sequences/<uuid:sequence_id>/settings", methods=["GET", "POST"])
@login_required
def sequence_settings(sequence_id: uuid.UUID) -> ResponseReturnValue:
    sequence = owned_sequence(sequence_id)
    if request.method == "GET":
        return _settings_fragment(sequence, settings_to_form(_settings_of(sequence)))
    if request.form.get("_op"):
        values = apply_op(request.form, request.form["_op"])
        return _settings_fragment(sequence, FormData(values))
    data, form = settings_from_form(request.form, _goal_step_names(sequence))
    if data is None:
        return _settings_fragment(sequence, form)
    try:
        state = builder.update_settings(sequence, version=editor_version(), **data)
    except (builder.VersionConflict, builder.EditRefused) as exc:
        return refusal(exc)
    return _settings_fragment(sequence, settings_to_form(_settings_of(sequence)), state=state)


@web_bp.post("/sequences/<uuid:sequence_id>/steps/<step_id>/preview")
@login_required
def email_preview(sequence_id: uuid.UUID, step_id: str) -> ResponseReturnValue:
    """The posted email fields rendered in the sandbox for one contact (or sample data)."""
    sequence = owned_sequence(sequence_id)
    step = _step_or_404(sequence, step_id)
    if step.type != "email":
        abort(404)
    subject, html, text = email_preview_parts(request.form, step.config or {})
    contact = _preview_contact(request.form.get("preview.contact", ""))
    try:
        rendered = render_email(
            subject, html, text, template_context(contact, "#unsubscribe"), **render_limits()
        )
    except RenderError as exc:
        return _fragment(render_template("builder/preview.html", error=exc.reason))
    recipient = _contact_label(contact)
    return _fragment(
        render_template("builder/preview.html", rendered=rendered, recipient=recipient)
    )


# --- Rendering -----------------------------------------------------------------------------------


def _step_fragment(
    sequence: Sequence, step: SequenceStep, form: FormData, state: dict[str, Any] | None = None
) -> ResponseReturnValue:
    urls = {"sequence_id": sequence.id, "step_id": step.key}
    page = render_template(
        "builder/step_panel.html",
        form=form,
        sequence=sequence,
        step=step,
        type_label=kind.label if (kind := kind_of(step.type)) else step.type,
        version=sequence.version,
        editable=builder.is_editable(sequence),
        saved=state is not None,
        panel_url=url_for("web.step_panel", **urls),
        preview_url=url_for("web.email_preview", **urls),
        max_condition_depth=MAX_CONDITION_DEPTH,
        sample_name=f"{SAMPLE_CONTACT['first_name']} {SAMPLE_CONTACT['last_name']}",
        **_choices_for(sequence, step.type),
    )
    return _fragment(page, state)


def _settings_fragment(
    sequence: Sequence, form: FormData, state: dict[str, Any] | None = None
) -> ResponseReturnValue:
    page = render_template(
        "builder/settings_panel.html",
        form=form,
        sequence=sequence,
        version=sequence.version,
        editable=builder.is_editable(sequence),
        saved=state is not None,
        panel_url=url_for("web.sequence_settings", sequence_id=sequence.id),
        goal_names=_exit_goal_choices(sequence, form),
        segments=_segment_names(),
        timezones=_timezones(),
        sequences=_other_sequences(sequence),
    )
    return _fragment(page, state)


def _fragment(html: str, state: dict[str, Any] | None = None) -> ResponseReturnValue:
    response = make_response(html)
    response.vary.add("HX-Request")
    if state is not None:
        response.headers["HX-Trigger"] = json.dumps({"pm-graph": state})
    return response


# --- Lookups, all within the signed-in user's workspace ------------------------------------------


def _step_or_404(sequence: Sequence, step_id: str) -> SequenceStep:
    step = builder.find_step(sequence, step_id)
    if step is None:
        abort(404)
    return step


def _settings_of(sequence: Sequence) -> dict[str, Any]:
    return {
        "name": sequence.name,
        "description": sequence.description,
        "trigger": sequence.trigger_config,
        "goals": sequence.goals_config,
        "exit": sequence.exit_config,
        "re_enrollment": sequence.re_enrollment_config,
        "settings": sequence.settings,
    }


def _choices_for(sequence: Sequence, step_type: str) -> dict[str, Any]:
    """What the type's form offers to pick from; only the lookups that form needs run."""
    choices: dict[str, Any] = {}
    if step_type in ("wait_until", "branch"):
        choices["email_steps"] = [
            (step.key, f"{step.name} ({step.key})" if step.name else step.key)
            for step in sequence.steps
            if step.type == "email"
        ]
    if step_type in ("email", "delay", "wait_until", "branch", "action"):
        choices["custom_fields"] = _custom_fields()
    if step_type == "email":
        choices["variables"] = _variables(choices["custom_fields"])
        choices["contacts"] = _contacts()
    if step_type == "delay":
        choices["timezones"] = _timezones()
    if step_type == "branch":
        choices["segments"] = _segment_names()
    if step_type == "action":
        choices["sequences"] = [(name, name) for name in _other_sequences(sequence)]
    if step_type == "goal":
        choices["goal_names"] = _goal_names(sequence)
    return choices


def _goal_names(sequence: Sequence) -> list[str]:
    """Goals an exit rule may name: the sequence's goal definitions and its goal steps."""
    names = [str(goal.get("name")) for goal in sequence.goals_config or [] if goal.get("name")]
    return list(dict.fromkeys([*names, *_goal_step_names(sequence)]))


def _goal_step_names(sequence: Sequence) -> list[str]:
    names = []
    for step in sequence.steps:
        goal = (step.config or {}).get("goal") if step.type == "goal" else None
        if isinstance(goal, str) and goal.strip():
            names.append(goal)
    return names


def _exit_goal_choices(sequence: Sequence, form: FormData) -> list[str]:
    """The goal steps' names and the goals as the settings form now defines them."""
    defined = [form.get(f"goals.{index}.name").strip() for index in form.rows("goals")]
    return list(dict.fromkeys([*filter(None, defined), *_goal_step_names(sequence)]))


def _custom_fields() -> list[str]:
    rows = db.session.scalars(
        select(Contact.fields)
        .where(Contact.workspace_id == current_user.workspace_id)
        .limit(_FIELD_SCAN_LIMIT)
    )
    return sorted({str(key) for fields in rows if isinstance(fields, dict) for key in fields})


def _variables(custom_fields: list[str]) -> list[tuple[str, str]]:
    """(button label, template text) for the email form's variable picker."""
    variables = [
        ("First name", "{{ contact.first_name }}"),
        ("Last name", "{{ contact.last_name }}"),
        ("Email", "{{ contact.email }}"),
    ]
    for name in custom_fields:
        key = f".{name}" if name.isidentifier() else f"[{json.dumps(name)}]"
        variables.append((name, f"{{{{ contact.fields{key} }}}}"))
    return [*variables, ("Unsubscribe link", "{{ unsubscribe_url }}")]


def _contacts() -> list[tuple[str, str]]:
    rows = db.session.scalars(
        Contact.in_workspace(current_user.workspace_id)
        .order_by(Contact.email)
        .limit(PREVIEW_CONTACTS)
    )
    return [(str(c.id), _contact_label(c)) for c in rows]


def _contact_label(contact: Contact | _SampleContact) -> str:
    name = " ".join(part for part in (contact.first_name, contact.last_name) if part)
    return f"{name} <{contact.email}>" if name else contact.email


def _preview_contact(raw_id: str) -> Contact | _SampleContact:
    """The chosen contact of this workspace, else the sample contact (other fields as [name])."""
    try:
        contact_id = uuid.UUID(raw_id)
    except ValueError:
        contact_id = None
    if contact_id is not None:
        query = Contact.in_workspace(current_user.workspace_id, Contact.id == contact_id)
        contact = db.session.scalar(query)
        if contact is not None:
            return contact
    placeholders = {name: f"[{name}]" for name in _custom_fields()}
    fields = placeholders | SAMPLE_CONTACT["fields"]
    return _SampleContact(**(SAMPLE_CONTACT | {"fields": fields}))


def _segment_names() -> list[str]:
    query = (
        select(Segment.name)
        .where(Segment.workspace_id == current_user.workspace_id)
        .order_by(Segment.name)
    )
    return list(db.session.scalars(query))


def _other_sequences(sequence: Sequence) -> list[str]:
    query = (
        select(Sequence.name)
        .where(
            Sequence.workspace_id == current_user.workspace_id,
            Sequence.id != sequence.id,
            Sequence.archived_at.is_(None),
        )
        .order_by(Sequence.name)
    )
    return list(dict.fromkeys(db.session.scalars(query)))


@lru_cache(maxsize=1)
def _zone_names() -> tuple[str, ...]:
    return tuple(sorted(available_timezones()))


def _timezones() -> list[str]:
    return list(_zone_names())
