"""The pages a marketer or operator reads: sequences and removing an enrollment (the
enrollments list is web/enrollment_list.py, the outbox web/outbox.py)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from app.core.format.problems import DefinitionError
from app.extensions import htmx
from app.services import contacts as contact_service
from app.services import enrollment as enrollment_service
from app.services import interventions
from app.services import sequences as sequence_service
from app.web import web_bp
from app.web.back_links import local_path
from app.web.builder import owned_sequence
from app.web.versions import drafts_by_live


@web_bp.get("/")
def home() -> Any:
    return redirect(url_for("web.sequences"))


@web_bp.get("/favicon.ico")
def favicon() -> Any:
    """Pages without our <head> (Werkzeug's error pages, raw files) still make browsers ask
    for /favicon.ico: send them to the SVG instead of a 404."""
    return redirect(url_for("static", filename="favicon.svg"), code=301)


@web_bp.get("/sequences")
@login_required
def sequences() -> Any:
    rows = sequence_service.list_sequences(current_user.workspace_id)
    return render_template(
        "pages/sequences.html", rows=rows, drafts=drafts_by_live(current_user.workspace_id)
    )


@web_bp.post("/sequences")
@login_required
def create_sequence() -> Any:
    name = request.form.get("name", "")
    try:
        sequence = sequence_service.create_blank(current_user.workspace, name, current_user.id)
    except DefinitionError as exc:
        rows = sequence_service.list_sequences(current_user.workspace_id)
        page = render_template(
            "pages/sequences.html",
            rows=rows,
            drafts=drafts_by_live(current_user.workspace_id),
            name_error=exc.first.message,
            new_name=name,
        )
        return page, 422
    return redirect(url_for("web.builder_page", sequence_id=sequence.id))


@web_bp.post("/sequences/<uuid:sequence_id>/duplicate")
@login_required
def duplicate_sequence(sequence_id: uuid.UUID) -> Any:
    copy = sequence_service.duplicate_sequence(owned_sequence(sequence_id), current_user.id)
    flash(f"Created {copy.name!r} as a draft; choose its trigger in the settings.", "ok")
    return redirect(url_for("web.builder_page", sequence_id=copy.id))


@web_bp.post("/sequences/<uuid:sequence_id>/archive")
@login_required
def archive_sequence(sequence_id: uuid.UUID) -> Any:
    """Asked first: by hx-confirm when htmx sent the form, else by a confirmation page."""
    sequence = owned_sequence(sequence_id)
    if not htmx and request.form.get("confirmed") != "yes":
        return render_template(
            "enrollments/confirm.html",
            question=f"Archive {sequence.name!r}? It stops and becomes read-only "
            "until you unarchive it.",
            target=request.path,
            fields={},
            button="Archive",
            back=url_for("web.sequences"),
        )
    try:
        sequence_service.archive_sequence(sequence, datetime.now(UTC))
        flash(f"Archived {sequence.name!r}.", "ok")
    except sequence_service.SequenceStateError as exc:
        flash(str(exc), "error")
    return redirect(url_for("web.sequences"))


@web_bp.post("/sequences/<uuid:sequence_id>/unarchive")
@login_required
def unarchive_sequence(sequence_id: uuid.UUID) -> Any:
    sequence = owned_sequence(sequence_id)
    try:
        sequence_service.unarchive_sequence(sequence, datetime.now(UTC))
        flash(f"Unarchived {sequence.name!r}: it is {sequence.status}.", "ok")
    except sequence_service.SequenceStateError as exc:
        flash(str(exc), "error")
    return redirect(url_for("web.sequences"))


@web_bp.post("/enrollments/<uuid:enrollment_id>/exit")
@login_required
def exit_enrollment(enrollment_id: uuid.UUID) -> Any:
    """The "Remove from sequence" button: the enrollment ends `exited`, naming who removed
    it and why (an optional `reason`), recorded in the audit log; the dispatcher skips the
    emails it had queued. Back to the page the button was on.

    Asked first: htmx's hx-confirm has asked when the request comes from htmx; otherwise
    (no script on the page) a confirmation page posts back with `confirmed`."""
    workspace_id = current_user.workspace_id
    found = enrollment_service.get_enrollment(workspace_id, enrollment_id)
    if found is None:
        abort(404)
    back = local_path(request.form.get("next")) or url_for("web.enrollments")
    if not htmx and request.form.get("confirmed") != "yes":
        return render_template(
            "pages/confirm_exit.html",
            enrollment=found,
            who=contact_service.get_contact(workspace_id, found.contact_id),
            sequence=sequence_service.get_sequence(workspace_id, found.sequence_id),
            back=back,
            reason=request.form.get("reason", ""),
        )
    why = (request.form.get("reason") or "").strip() or None
    if why is not None and len(why) > interventions.MAX_REASON:
        flash(f"The reason must be at most {interventions.MAX_REASON} characters.", "error")
        return redirect(back)
    shown = f"removed by {current_user.email}" + (f": {why}" if why else "")
    now = datetime.now(UTC)
    ended = enrollment_service.exit_enrollment(
        workspace_id, enrollment_id, shown, now, current_user.email, why
    )
    if ended is None:
        flash("This enrollment had already finished; nothing was removed.", "error")
    else:
        flash("Removed from the sequence; emails it had queued will not be sent.", "ok")
    return redirect(back)
