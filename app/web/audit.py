"""The audit page: every change made to the workspace's enrollments from outside their runs
(operators' interventions, version migrations), newest first, filtered in the URL."""

from __future__ import annotations

import uuid
from typing import Any

from flask import abort, render_template, request
from flask_login import current_user, login_required

from app.services import audit_log, enrollment_query
from app.services.audit_log import AuditFilter
from app.services.enrollment_query import FilterError
from app.web import web_bp

PAGE_SIZE = 50


@web_bp.get("/audit")
@login_required
def audit() -> Any:
    """`?kind=`, `?action=`, `?sequence=` filter; `?before=` pages by key. A bad value is
    shown beside its field (422); another workspace's sequence is 404."""
    workspace_id = current_user.workspace_id
    sequences = enrollment_query.sequence_choices(workspace_id)
    try:
        flt, before = _parse(request.args)
    except FilterError as exc:
        return _render(AuditFilter(), None, sequences, exc), 422
    if flt.sequence_id is not None and flt.sequence_id not in {s.id for s in sequences}:
        abort(404)
    found = audit_log.page(workspace_id, flt, before, PAGE_SIZE)
    return _render(flt, found, sequences, None)


def _parse(args: Any) -> tuple[AuditFilter, int | None]:
    kind = args.get("kind") or None
    if kind is not None and kind not in audit_log.KINDS:
        raise FilterError("kind", f"kind must be one of {', '.join(audit_log.KINDS)}")
    action = args.get("action") or None
    if action is not None and action not in audit_log.ACTIONS:
        raise FilterError("action", f"action must be one of {', '.join(audit_log.ACTIONS)}")
    raw_sequence = args.get("sequence") or None
    try:
        sequence_id = uuid.UUID(raw_sequence) if raw_sequence else None
    except ValueError:
        raise FilterError("sequence", "sequence must be a sequence's id") from None
    raw_before = args.get("before") or None
    if raw_before is not None and not (
        raw_before.isascii() and raw_before.isdigit() and len(raw_before) < 19
    ):
        raise FilterError("before", "before must be a page key this list gave out")
    return AuditFilter(kind, action, sequence_id), int(raw_before) if raw_before else None


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
