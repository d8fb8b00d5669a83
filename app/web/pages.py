"""The pages a marketer or operator reads: sequences, enrollments, outbox."""

from __future__ import annotations

from typing import Any

from flask import redirect, render_template, url_for
from flask_login import current_user, login_required

from app.services import enrollment as enrollment_service
from app.services import outbox as outbox_service
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
    rows = outbox_service.list_messages(current_user.workspace_id)
    return render_template("pages/outbox.html", rows=rows)
