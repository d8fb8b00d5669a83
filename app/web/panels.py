"""The builder's settings panels (HTMX fragments): a step's form, the sequence's settings,
the email preview, and picking an A/B winner or stopping the test by hand. See
docs/builder.md for the contract with the page and the canvas.

Invalid input answers 200 with the form and inline errors (htmx swaps only 2xx answers)
and saves nothing; a save answers the form again plus an HX-Trigger `pm-graph` event with
the new state. Stale versions answer 409 and refused edits 422, as JSON like the canvas.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from flask import abort, make_response, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user, login_required

from app.core.steps import kind_of, step_outputs
from app.mail.rendering import RenderError
from app.models import Sequence, SequenceStep
from app.services import ab_tests, builder, panel_choices
from app.services.dispatcher import render_step_email
from app.services.template_budget import SAMPLE_CONTACT
from app.web import web_bp
from app.web.builder import editor_version, owned_sequence, refusal
from app.web.form_toolkit import FormData, timezone_names
from app.web.settings_form import (
    VARIABLE_TYPES,
    apply_settings_op,
    settings_from_form,
    settings_to_form,
)
from app.web.steps import (
    apply_step_op,
    config_from_form,
    form_from_config,
    form_of,
    save_problems_placed,
    step_name,
)
from app.web.steps.email import contact_label, email_preview_parts

# --- Routes --------------------------------------------------------------------------------------


@web_bp.route("/sequences/<uuid:sequence_id>/steps/<step_id>/panel", methods=["GET", "POST"])
@login_required
def step_panel(sequence_id: uuid.UUID, step_id: str) -> ResponseReturnValue:
    sequence = owned_sequence(sequence_id)
    step = _step_or_404(sequence, step_id)
    if request.method == "GET":
        return _step_fragment(sequence, step, form_from_config(step.type, step.config, step.name))
    op = request.form.get("_op")
    if op:
        values = apply_step_op(step.type, request.form, op)
        pending = form_of(step.type).saves_op(op)
        return _step_fragment(sequence, step, FormData(values), pending_save=pending)
    config, form = config_from_form(step.type, request.form)
    if config is not None and save_problems_placed(step.type, step.key, config, form):
        config = None
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
        values = apply_settings_op(request.form, request.form["_op"])
        return _settings_fragment(sequence, FormData(values))
    data, form = settings_from_form(request.form, panel_choices.goal_step_names(sequence))
    if data is None:
        return _settings_fragment(sequence, form)
    try:
        state = builder.update_settings(sequence, version=editor_version(), **data)
    except (builder.VersionConflict, builder.EditRefused) as exc:
        return refusal(exc)
    return _settings_fragment(sequence, settings_to_form(_settings_of(sequence)), state=state)


@web_bp.post("/sequences/<uuid:sequence_id>/steps/<step_id>/ab-test/winner")
@login_required
def ab_test_winner(sequence_id: uuid.UUID, step_id: str) -> ResponseReturnValue:
    """'Use B for everyone': the signed-in user decides the step's test by hand."""
    variant = request.form.get("variant", "").strip()
    return _ab_decision(
        sequence_id,
        step_id,
        lambda sequence, step, now: ab_tests.pick_winner(
            sequence, step.key, variant, current_user.email, now
        ),
    )


@web_bp.post("/sequences/<uuid:sequence_id>/steps/<step_id>/ab-test/stop")
@login_required
def ab_test_stop(sequence_id: uuid.UUID, step_id: str) -> ResponseReturnValue:
    """'Stop the test': no winner, the split goes on."""
    return _ab_decision(
        sequence_id,
        step_id,
        lambda sequence, step, now: ab_tests.stop_test(sequence, step.key, current_user.email, now),
    )


def _ab_decision(
    sequence_id: uuid.UUID,
    step_id: str,
    decide: Callable[[Sequence, SequenceStep, datetime], object],
) -> ResponseReturnValue:
    """The step's panel again, showing the new decision; a refusal (no test on the step, a
    variant no longer in it) answers 422 JSON naming the step, like a refused edit."""
    sequence = owned_sequence(sequence_id)
    step = _step_or_404(sequence, step_id)
    try:
        decide(sequence, step, datetime.now(UTC))
    except ab_tests.AbTestError as exc:
        return refusal(builder.EditRefused(str(exc), "ab_test", step.key))
    form = form_from_config(step.type, step.config, step.name)
    for key in ("preview.contact", "preview.variant"):
        form.values.setlist(key, request.form.getlist(key))
    return _step_fragment(sequence, step, form)


@web_bp.post("/sequences/<uuid:sequence_id>/steps/<step_id>/preview")
@login_required
def email_preview(sequence_id: uuid.UUID, step_id: str) -> ResponseReturnValue:
    """The posted email fields rendered in the sandbox for one contact (or sample data)."""
    sequence = owned_sequence(sequence_id)
    step = _step_or_404(sequence, step_id)
    if step.type != "email":
        abort(404)
    subject, html, text = email_preview_parts(request.form, step.config or {})
    contact = panel_choices.preview_contact(
        sequence.workspace_id, request.form.get("preview.contact", "")
    )
    try:
        parts = {"subject": subject, "body": html, "text": text}
        rendered = render_step_email(parts, contact, "#unsubscribe", sequence.settings)
    except RenderError as exc:
        return _fragment(render_template("builder/preview.html", error=exc.reason))
    recipient = contact_label(contact)
    return _fragment(
        render_template("builder/preview.html", rendered=rendered, recipient=recipient)
    )


# --- Rendering -----------------------------------------------------------------------------------


def _step_fragment(
    sequence: Sequence,
    step: SequenceStep,
    form: FormData,
    state: dict[str, Any] | None = None,
    pending_save: bool = False,
) -> ResponseReturnValue:
    """The step's form; `pending_save` marks an unsaved change autosave is to save (a
    block moved), as if it had been typed."""
    urls = {"sequence_id": sequence.id, "step_id": step.key}
    page = render_template(
        "builder/step_panel.html",
        form=form,
        sequence=sequence,
        step=step,
        type_label=_type_label(step.type),
        version=sequence.version,
        editable=builder.is_editable(sequence),
        saved=state is not None,
        pending_save=pending_save,
        panel_url=url_for("web.step_panel", **urls),
        preview_url=url_for("web.email_preview", **urls),
        sample_name=f"{SAMPLE_CONTACT['first_name']} {SAMPLE_CONTACT['last_name']}",
        connect_ports=step_outputs(step.type, step.config),
        connect_targets=_other_steps(sequence, step),
        **form_of(step.type).choices(sequence),
    )
    return _fragment(page, state)


def _settings_fragment(
    sequence: Sequence, form: FormData, state: dict[str, Any] | None = None
) -> ResponseReturnValue:
    workspace_id = sequence.workspace_id
    page = render_template(
        "builder/settings_panel.html",
        form=form,
        sequence=sequence,
        version=sequence.version,
        editable=builder.is_editable(sequence),
        saved=state is not None,
        panel_url=url_for("web.sequence_settings", sequence_id=sequence.id),
        goal_names=_exit_goal_choices(sequence, form),
        segment_choices=[(name, name) for name in panel_choices.segment_names(workspace_id)],
        form_choices=[(name, name) for name in panel_choices.form_names(workspace_id)],
        timezones=timezone_names(),
        sequences=panel_choices.other_sequence_names(sequence),
        variable_types=VARIABLE_TYPES,
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


def _other_steps(sequence: Sequence, step: SequenceStep) -> list[tuple[str, str]]:
    """(key, name as on its card) of every other step, in author order, for "Connect to…"."""
    others = sorted((s for s in sequence.steps if s.key != step.key), key=lambda s: s.sort_order)
    return [(s.key, s.name or f"{_type_label(s.type)} ({s.key})") for s in others]


def _type_label(step_type: str) -> str:
    kind = kind_of(step_type)
    return kind.label if kind else step_type


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


def _exit_goal_choices(sequence: Sequence, form: FormData) -> list[str]:
    """The goal steps' names and the goals as the settings form now defines them."""
    defined = [form.get(f"goals.{index}.name").strip() for index in form.rows("goals")]
    return list(dict.fromkeys([*filter(None, defined), *panel_choices.goal_step_names(sequence)]))
