"""The launch checklist panel: test send, creating the trigger's missing segment, activate,
pause and resume from the builder."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from flask import make_response, render_template, request
from flask_login import current_user, login_required

from app.core.addresses import AddressError, address_list
from app.core.format.problems import DefinitionError
from app.core.problem_words import in_words, step_names
from app.models import Sequence
from app.services import contact_views, panel_choices, segments
from app.services import sequences as sequence_service
from app.services.launch import (
    MAX_TEST_RECIPIENTS,
    SendTestReport,
    launch_checklist,
    ready_to_launch,
    send_test_emails,
)
from app.web import web_bp
from app.web.builder import owned_sequence

CONTACT_CHOICES = 20  # "Render for" lists this many; the search box above it finds the rest


@web_bp.get("/sequences/<uuid:sequence_id>/checklist")
@login_required
def checklist(sequence_id: uuid.UUID) -> Any:
    return _checklist(owned_sequence(sequence_id))


@web_bp.post("/sequences/<uuid:sequence_id>/test-email")
@login_required
def send_test(sequence_id: uuid.UUID) -> Any:
    """To the addresses typed in "Send to" (comma-separated, at most MAX_TEST_RECIPIENTS),
    the signed-in user's when left empty; a bad list is refused naming the field."""
    sequence = owned_sequence(sequence_id)
    contact_id = request.form.get("contact_id")
    typed = request.form.get("to", "")
    try:
        to = address_list(typed, MAX_TEST_RECIPIENTS) if typed.strip() else [current_user.email]
    except AddressError as exc:
        # 200, as the checklist's other refusals: htmx swaps only 2xx into the panel
        return _checklist(sequence, errors=[f"Send to: {exc}"], contact_id=contact_id, to=typed)
    contact = panel_choices.chosen_contact(sequence.workspace_id, contact_id)
    report = send_test_emails(sequence, current_user, contact, datetime.now(UTC), to)
    return _checklist(sequence, report=report, contact_id=contact_id, to=", ".join(to))


@web_bp.get("/sequences/<uuid:sequence_id>/contact-options")
@login_required
def contact_options(sequence_id: uuid.UUID) -> Any:
    """The "Render for" options matching the search box (email or name), for htmx to swap
    into the list: a workspace of 100,000 contacts never lands in one <select>."""
    sequence = owned_sequence(sequence_id)
    found, total = contact_views.search(
        sequence.workspace_id, request.args.get("q", ""), CONTACT_CHOICES, 0
    )
    return render_template(
        "builder/_contact_options.html", contacts=found, more=total - len(found), contact_id=""
    )


@web_bp.post("/sequences/<uuid:sequence_id>/trigger-segment")
@login_required
def create_trigger_segment(sequence_id: uuid.UUID) -> Any:
    """One click from the checklist: the static segment the trigger names, in this workspace.
    The name comes from the stored trigger, never from the form."""
    sequence = owned_sequence(sequence_id)
    trigger = sequence.trigger_config or {}
    name = str(trigger.get("segment") or "") if trigger.get("type") == "segment_join" else ""
    if not name.strip():
        return _checklist(sequence, errors=["This sequence's trigger names no segment."])
    try:
        segments.create_segment(current_user.workspace, name, "static", None, datetime.now(UTC))
    except segments.SegmentError as exc:
        return _checklist(sequence, errors=[str(exc)])
    return _checklist(sequence)


@web_bp.post("/sequences/<uuid:sequence_id>/status/<any(activate, pause, resume):action>")
@login_required
def change_status(sequence_id: uuid.UUID, action: str) -> Any:
    sequence = owned_sequence(sequence_id)
    items = launch_checklist(sequence)
    if action in ("activate", "resume") and not ready_to_launch(items):
        verb = "activating" if action == "activate" else "resuming"
        return _checklist(sequence, errors=[f"Finish the checklist before {verb}."])
    mode = request.form.get("while_paused") if action == "pause" else None
    try:
        sequence_service.set_status(
            sequence, action, datetime.now(UTC), actor=current_user.email, while_paused=mode
        )
    except DefinitionError as exc:
        names = step_names((step.key, step.name, step.type) for step in sequence.steps)
        return _checklist(sequence, errors=[in_words(problem, names) for problem in exc.problems])
    except sequence_service.SequenceStateError as exc:
        return _checklist(sequence, errors=[str(exc)])
    response = make_response(_checklist(sequence))
    response.headers["HX-Refresh"] = "true"  # the canvas switches between edit and view mode
    return response


def _checklist(
    sequence: Sequence,
    report: SendTestReport | None = None,
    errors: list[str] | None = None,
    contact_id: str | None = None,
    to: str | None = None,
) -> Any:
    items = launch_checklist(sequence)
    found, total = contact_views.search(sequence.workspace_id, "", CONTACT_CHOICES, 0)
    more = total - len(found)
    chosen = panel_choices.chosen_contact(sequence.workspace_id, contact_id)
    if chosen is not None and chosen not in found:  # found by a search: keep it chosen
        found = [chosen, *found]
    response = make_response(
        render_template(
            "builder/checklist.html",
            sequence=sequence,
            items=items,
            ready=ready_to_launch(items),
            report=report,
            errors=errors or [],
            contacts=found,
            more=more,
            contact_id=contact_id or "",
            to=current_user.email if to is None else to,
            max_recipients=MAX_TEST_RECIPIENTS,
        )
    )
    response.headers["Vary"] = "HX-Request"
    return response
