"""The segment pages: the list with member counts, creating static and rule segments (rules
built with the branch condition builder, with a live count), one
segment's members, adding a whole segment to a sequence, renaming and deleting."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from werkzeug.datastructures import MultiDict

from app.http.numbers import page_number
from app.models import Segment
from app.services import contact_views, panel_choices, segments
from app.services import enrollment as enrollment_service
from app.web import segment_rules, web_bp
from app.web.contacts import PAGE_SIZE, chosen_sequence, enroll_report, manual_reason
from app.web.form_toolkit import FormData
from app.web.steps.branch import MAX_CONDITION_DEPTH

RULE_EXAMPLE = '{"all": [{"type": "field", "field": "plan", "op": "eq", "value": "trial"}]}'


@web_bp.get("/segments")
@login_required
def segments_page() -> Any:
    return _segments_page()


@web_bp.post("/segments")
@login_required
def create_segment() -> Any:
    """Create; or, when an add/remove button (`_op`) was pressed, show the rule builder
    changed and save nothing. A rule typed in the advanced box wins over the builder."""
    form = request.form
    rule_form = FormData(segment_rules.posted(form))
    if form.get("_op"):
        return _segments_page(rule_form=rule_form, status=200)
    kind = form.get("kind", "static")
    rule: str | dict[str, Any] = form.get("rule", "")
    built = kind == "rule" and not rule.strip()
    if built:
        rule, rule_form = segment_rules.read(rule_form.values)
        if rule_form.errors:
            return _segments_page(rule_form=rule_form)
    try:
        segment = segments.create_segment(
            current_user.workspace, form.get("name", ""), kind, rule, datetime.now(UTC)
        )
    except segments.SegmentError as exc:
        if built and exc.field.startswith("rule"):
            segment_rules.place_error(rule_form, exc.field, str(exc))
            return _segments_page(rule_form=rule_form)
        return _segments_page({exc.field: str(exc)}, rule_form=rule_form)
    flash(f"Created segment {segment.name!r}.", "ok")
    return redirect(url_for("web.segment_page", segment_id=segment.id))


@web_bp.post("/segments/count")
@login_required
def segment_rule_count() -> Any:
    """The live count under the rule builder: how many contacts the rule takes in now."""
    rule, rule_form = segment_rules.read(segment_rules.posted(request.form))
    count = None
    if not rule_form.errors:
        try:
            rule = segments.parse_rule(rule)
        except segments.SegmentError:
            pass
        else:
            count = segments.count_matching(current_user.workspace_id, rule, datetime.now(UTC))
    return render_template("contacts/_rule_count.html", count=count)


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


def _segments_page(
    errors: dict[str, str] | None = None,
    rule_form: FormData | None = None,
    status: int | None = None,
) -> Any:
    workspace_id = current_user.workspace_id
    rule_form = rule_form or FormData(MultiDict(segment_rules.START))
    failed = bool(errors or rule_form.errors)
    page = render_template(
        "contacts/segments.html",
        rows=segments.list_segments(workspace_id),
        errors=errors or {},
        form=request.form,
        rule_example=RULE_EXAMPLE,
        rule_form=rule_form,
        condition_kinds=segment_rules.KINDS,
        panel_url=url_for("web.create_segment"),
        max_condition_depth=MAX_CONDITION_DEPTH,
        custom_fields=panel_choices.custom_fields(workspace_id),
    )
    return page, status or (422 if failed else 200)


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
