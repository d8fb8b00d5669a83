"""The enrollment page: one enrollment's full story, for support and operators."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from flask import abort, render_template
from flask_login import current_user, login_required

from app.services.enrollment_story import MAX_EMAILS, MAX_EVENTS, MAX_STEPS, enrollment_story
from app.web import web_bp

TIME_FORMAT = "%d %b %Y %H:%M"


@web_bp.get("/enrollments/<uuid:enrollment_id>")
@login_required
def enrollment_detail(enrollment_id: uuid.UUID) -> Any:
    """Header (contact, sequence, status, version, step, next run, why it waits) and the
    timeline of every run, newest first; 404 for another workspace's enrollment."""
    found = enrollment_story(current_user.workspace_id, enrollment_id)
    if found is None:
        abort(404)
    return render_template(
        "enrollments/detail.html",
        story=found,
        e=found.enrollment,
        utc=_utc,
        local=lambda at: _local(at, found.zone),
        caps={"steps": MAX_STEPS, "emails": MAX_EMAILS, "events": MAX_EVENTS},
    )


def _utc(at: datetime | None) -> str:
    return at.strftime(f"{TIME_FORMAT} UTC") if at else "—"


def _local(at: datetime | None, zone: ZoneInfo) -> str:
    """The contact's wall clock: what the contact saw when it happened."""
    return at.astimezone(zone).strftime(f"{TIME_FORMAT} %Z") if at else "—"
