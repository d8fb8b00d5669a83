"""The launch checklist panel: test send, creating the trigger's missing segment, activate,
pause and resume from the builder."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from flask import make_response, render_template, request
from flask_login import current_user, login_required

from app.core.definition import DefinitionError
from app.extensions import db
from app.models import Contact, Sequence
from app.services import segments
from app.services import sequences as sequence_service
from app.services.launch import SendTestReport, launch_checklist, ready_to_launch, send_test_emails
from app.web import web_bp
from app.web.builder import owned_sequence

CONTACT_CHOICES = 50


@web_bp.get("/sequences/<uuid:sequence_id>/checklist")
@login_required
def checklist(sequence_id: uuid.UUID) -> Any:
    return _checklist(owned_sequence(sequence_id))


@web_bp.post("/sequences/<uuid:sequence_id>/test-email")
@login_required
def send_test(sequence_id: uuid.UUID) -> Any:
    sequence = owned_sequence(sequence_id)
    contact = _chosen_contact(request.form.get("contact_id"))
    report = send_test_emails(sequence, current_user, contact, datetime.now(UTC))
    return _checklist(sequence, report=report, contact_id=request.form.get("contact_id"))


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
        return _checklist(sequence, errors=["Finish the checklist before activating."])
    try:
        sequence_service.set_status(sequence, action, datetime.now(UTC))
    except DefinitionError as exc:
        db.session.rollback()
        return _checklist(sequence, errors=[str(problem) for problem in exc.problems])
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
) -> Any:
    items = launch_checklist(sequence)
    response = make_response(
        render_template(
            "builder/checklist.html",
            sequence=sequence,
            items=items,
            ready=ready_to_launch(items),
            report=report,
            errors=errors or [],
            contacts=_contacts(),
            contact_id=contact_id or "",
        )
    )
    response.headers["Vary"] = "HX-Request"
    return response


def _contacts() -> list[Contact]:
    stmt = (
        Contact.in_workspace(current_user.workspace_id)
        .order_by(Contact.email)
        .limit(CONTACT_CHOICES)
    )
    return list(db.session.scalars(stmt))


def _chosen_contact(raw: str | None) -> Contact | None:
    try:
        contact_id = uuid.UUID(raw or "")
    except ValueError:
        return None
    return db.session.scalar(
        Contact.in_workspace(current_user.workspace_id, Contact.id == contact_id)
    )
