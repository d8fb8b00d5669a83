"""The segment pages: the list with member counts, creating static and rule segments, one
segment's members, adding a whole segment to a sequence, renaming and deleting."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from app.http.numbers import page_number
from app.models import Segment
from app.services import contact_views, segments
from app.services import enrollment as enrollment_service
from app.web import web_bp
from app.web.contacts import PAGE_SIZE, chosen_sequence, enroll_report, manual_reason

RULE_EXAMPLE = '{"all": [{"type": "field", "field": "plan", "op": "eq", "value": "trial"}]}'


@web_bp.get("/segments")
@login_required
def segments_page() -> Any:
    return _segments_page()


@web_bp.post("/segments")
@login_required
def create_segment() -> Any:
    form = request.form
    try:
        segment = segments.create_segment(
            current_user.workspace,
            form.get("name", ""),
            form.get("kind", "static"),
            form.get("rule", ""),
            datetime.now(UTC),
        )
    except segments.SegmentError as exc:
        return _segments_page({exc.field: str(exc)})
    flash(f"Created segment {segment.name!r}.", "ok")
    return redirect(url_for("web.segment_page", segment_id=segment.id))


@web_bp.get("/segments/<uuid:segment_id>")
@login_required
def segment_page(segment_id: uuid.UUID) -> Any:
    return _segment_page(_owned_segment(segment_id))


@web_bp.post("/segments/<uuid:segment_id>/enroll")
@login_required
def enroll_segment(segment_id: uuid.UUID) -> Any:
    """Add every member to a sequence, set-based; the page shows counts by reason."""
    segment = _owned_segment(segment_id)
    sequence = chosen_sequence()
    if sequence is None:
        return _segment_page(segment, errors={"sequence": "Choose a sequence."})
    reason = f"{manual_reason()} (segment {segment.name!r})"
    result = enrollment_service.enroll_segment(sequence, segment.id, datetime.now(UTC), reason)
    return _segment_page(segment, report=enroll_report(sequence, result, list_each=False))


@web_bp.post("/segments/<uuid:segment_id>/rename")
@login_required
def rename_segment(segment_id: uuid.UUID) -> Any:
    segment = _owned_segment(segment_id)
    try:
        affected = segments.rename_segment(segment, request.form.get("name", ""))
    except segments.SegmentError as exc:
        return _segment_page(segment, errors={"name": str(exc)})
    using = f" {affected} sequence(s) using it now name it so." if affected else ""
    flash(f"Renamed to {segment.name!r}.{using}", "ok")
    return redirect(url_for("web.segment_page", segment_id=segment.id))


@web_bp.post("/segments/<uuid:segment_id>/delete")
@login_required
def delete_segment(segment_id: uuid.UUID) -> Any:
    segment = _owned_segment(segment_id)
    name = segment.name
    segments.delete_segment(segment)
    flash(f"Deleted segment {name!r}; its contacts are kept.", "ok")
    return redirect(url_for("web.segments_page"))


def _segments_page(errors: dict[str, str] | None = None) -> Any:
    page = render_template(
        "contacts/segments.html",
        rows=segments.list_segments(current_user.workspace_id),
        errors=errors or {},
        form=request.form,
        rule_example=RULE_EXAMPLE,
    )
    return page, 422 if errors else 200


def _segment_page(
    segment: Segment,
    report: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
) -> Any:
    workspace_id = current_user.workspace_id
    page = page_number(request.args.get("page"))
    total = segments.member_count(workspace_id, segment.id)
    html = render_template(
        "contacts/segment.html",
        segment=segment,
        rule=segments.rule_text(segment.rule),
        members=segments.members(workspace_id, segment.id, PAGE_SIZE, (page - 1) * PAGE_SIZE),
        total=total,
        page=page,
        pages=max(1, -(-total // PAGE_SIZE)),
        sequences=contact_views.enrollable_sequences(workspace_id),
        report=report,
        errors=errors or {},
    )
    return html, 422 if errors else 200


def _owned_segment(segment_id: uuid.UUID) -> Segment:
    segment = segments.get_segment(current_user.workspace_id, segment_id)
    if segment is None:
        abort(404)
    return segment
