"""The pages a marketer or operator reads: sequences, enrollments, outbox."""

from __future__ import annotations

from typing import Any

from flask import redirect, render_template, url_for
from flask_login import current_user, login_required
from sqlalchemy import select

from app.extensions import db
from app.models import Contact, OutboundMessage, Sequence, SequenceStep
from app.services import enrollment as enrollment_service
from app.services import sequences as sequence_service
from app.web import web_bp


@web_bp.get("/")
def home() -> Any:
    return redirect(url_for("web.sequences"))


@web_bp.get("/sequences")
@login_required
def sequences() -> Any:
    rows = sequence_service.list_sequences(current_user.workspace_id)
    return render_template("pages/sequences.html", rows=rows)


@web_bp.get("/enrollments")
@login_required
def enrollments() -> Any:
    rows = enrollment_service.list_enrollments(current_user.workspace_id)
    return render_template("pages/enrollments.html", rows=rows)


@web_bp.get("/outbox")
@login_required
def outbox() -> Any:
    stmt = (
        select(
            OutboundMessage,
            Contact.email,
            Sequence.name.label("sequence_name"),
            SequenceStep.name.label("step_name"),
            SequenceStep.key.label("step_key"),
        )
        .join(Contact, Contact.id == OutboundMessage.contact_id)
        .join(Sequence, Sequence.id == OutboundMessage.sequence_id)
        .outerjoin(SequenceStep, SequenceStep.id == OutboundMessage.step_id)
        .where(OutboundMessage.workspace_id == current_user.workspace_id)
        .order_by(OutboundMessage.queued_at.desc())
        .limit(200)
    )
    return render_template("pages/outbox.html", rows=list(db.session.execute(stmt)))
