"""The audit page: every change made to the workspace's enrollments from outside their runs
(operators' interventions, version migrations), newest first, filtered in the URL."""

from __future__ import annotations

from typing import Any

from flask import abort, render_template, request
from flask_login import current_user, login_required

from app.services import audit_log
from app.services.audit_log import AuditFilter
from app.services.enrollment_query import FilterError, sequence_choices
from app.web import web_bp

PAGE_SIZE = 50


@web_bp.get("/audit")
@login_required
def audit() -> Any:
    """`?kind=`, `?action=`, `?sequence=` filter; `?before=` pages by key. A bad value is
    shown beside its field (422); another workspace's sequence is 404."""
    workspace_id = current_user.workspace_id
    sequences = sequence_choices(workspace_id)
    try:
        flt, before = audit_log.parse(request.args)
    except FilterError as exc:
        return _render(AuditFilter(), None, sequences, exc), 422
    if flt.sequence_id is not None and flt.sequence_id not in {s.id for s in sequences}:
        abort(404)
    found = audit_log.page(workspace_id, flt, before, PAGE_SIZE)
    return _render(flt, found, sequences, None)


def _render(
    flt: AuditFilter,
    found: audit_log.AuditPage | None,
    sequences: list[Any],
    problem: FilterError | None,
) -> str:
    args = {
        name: str(value)
        for name, value in (
            ("kind", flt.kind),
            ("action", flt.action),
            ("sequence", flt.sequence_id),
        )
        if value is not None
    }
    return render_template(
        "audit/list.html",
        flt=flt,
        args=args,
        page=found,
        sequences=sequences,
        kinds=audit_log.KINDS,
        actions=audit_log.ACTIONS,
        problem=problem,
    )
