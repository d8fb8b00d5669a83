"""The pages a marketer or operator reads: sequences, enrollments, outbox."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from flask import flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from app.core.definition import DefinitionError
from app.services import enrollment as enrollment_service
from app.services import outbox as outbox_service
from app.services import sequences as sequence_service
from app.web import web_bp
from app.web.builder import owned_sequence


@web_bp.get("/")
def home() -> Any:
    return redirect(url_for("web.sequences"))


@web_bp.get("/sequences")
@login_required
def sequences() -> Any:
    rows = sequence_service.list_sequences(current_user.workspace_id)
    return render_template("pages/sequences.html", rows=rows)


@web_bp.post("/sequences")
@login_required
def create_sequence() -> Any:
    name = request.form.get("name", "")
    try:
        sequence = sequence_service.create_blank(current_user.workspace, name, current_user.id)
    except DefinitionError as exc:
        rows = sequence_service.list_sequences(current_user.workspace_id)
        page = render_template(
            "pages/sequences.html", rows=rows, name_error=exc.first.message, new_name=name
        )
        return page, 422
    return redirect(url_for("web.builder_page", sequence_id=sequence.id))


@web_bp.post("/sequences/<uuid:sequence_id>/duplicate")
@login_required
def duplicate_sequence(sequence_id: uuid.UUID) -> Any:
    copy = sequence_service.duplicate_sequence(owned_sequence(sequence_id), current_user.id)
    flash(f"Created {copy.name!r} as a draft.", "ok")
    return redirect(url_for("web.builder_page", sequence_id=copy.id))


@web_bp.post("/sequences/<uuid:sequence_id>/archive")
@login_required
def archive_sequence(sequence_id: uuid.UUID) -> Any:
    sequence = owned_sequence(sequence_id)
    try:
        sequence_service.archive_sequence(sequence, datetime.now(UTC))
        flash(f"Archived {sequence.name!r}.", "ok")
    except sequence_service.SequenceStateError as exc:
        flash(str(exc), "error")
    return redirect(url_for("web.sequences"))


@web_bp.get("/enrollments")
@login_required
def enrollments() -> Any:
    rows = enrollment_service.list_enrollments(current_user.workspace_id)
    return render_template(
        "pages/enrollments.html",
        rows=rows,
        waiting_reason=enrollment_service.waiting_reason,
        history=enrollment_service.earlier_runs(row.ContactSequence.id for row in rows),
    )


@web_bp.get("/outbox")
@login_required
def outbox() -> Any:
    rows = outbox_service.list_messages(current_user.workspace_id)
    return render_template("pages/outbox.html", rows=rows)
