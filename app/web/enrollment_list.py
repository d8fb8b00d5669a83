"""The enrollments list: a filter saved in the URL, counts for it, and pages by key (Next,
Previous, First), so it answers as fast at a million rows as at ten."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import abort, render_template, request
from flask_login import current_user, login_required

from app.models.enrollment import ENROLLMENT_STATUSES
from app.services import enrollment as enrollment_service
from app.services import enrollment_query
from app.services.enrollment_query import EnrollmentFilter, FilterError
from app.web import web_bp

PAGE_SIZE = 50


@web_bp.get("/enrollments")
@login_required
def enrollments() -> Any:
    """The workspace's enrollments matching the filter in the query string (`?sequence=`
    from the report too), newest first. A bad value is shown beside its field (422); a
    sequence or step of another workspace is 404."""
    workspace_id = current_user.workspace_id
    now = datetime.now(UTC)
    try:
        flt = enrollment_query.parse(request.args)
    except FilterError as exc:
        return _render(EnrollmentFilter(), None, exc, now), 422
    if enrollment_query.unknown_reference(workspace_id, flt) is not None:
        abort(404)
    try:
        page = enrollment_query.page(
            workspace_id, flt, now, request.args.get("cursor") or None, PAGE_SIZE
        )
    except FilterError as exc:
        return _render(flt, None, exc, now), 422
    return _render(flt, page, None, now)


def _render(
    flt: EnrollmentFilter,
    page: enrollment_query.Page | None,
    problem: FilterError | None,
    now: datetime,
) -> str:
    """The page; without `page` (a refused filter) the form and the error, no rows."""
    workspace_id = current_user.workspace_id
    rows = page.rows if page else []
    sequences = enrollment_query.sequence_choices(workspace_id)
    return render_template(
        "pages/enrollments.html",
        flt=flt,
        args=flt.to_args(),
        form=request.args,
        problem=problem,
        page=page,
        rows=rows,
        sequences=sequences,
        sequence=next((s for s in sequences if s.id == flt.sequence_id), None),
        steps=enrollment_query.step_choices(workspace_id, flt.sequence_id)
        if flt.sequence_id
        else [],
        statuses=ENROLLMENT_STATUSES,
        total=enrollment_query.count(workspace_id, flt, now) if page else None,
        counts=enrollment_query.status_counts(workspace_id, flt, now) if page else None,
        cap=enrollment_query.COUNT_CAP,
        waiting_reason=enrollment_service.waiting_reason,
        history=enrollment_service.earlier_runs(row.ContactSequence.id for row in rows),
    )
