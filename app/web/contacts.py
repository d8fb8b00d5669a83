"""The contacts pages: search, adding and editing one contact, adding contacts to a sequence
or a static segment by hand, and CSV imports with a progress bar."""

from __future__ import annotations

import json
import uuid
from collections import Counter
from datetime import UTC, datetime
from typing import Any

from flask import abort, flash, make_response, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from app.extensions import htmx
from app.http.numbers import page_number
from app.models import Contact, Segment, Sequence
from app.services import contact_import, contact_removal, contact_views, segments
from app.services import contacts as contact_service
from app.services import enrollment as enrollment_service
from app.services.enrollment import EnrollResult
from app.services.sequences import get_sequence
from app.services.suppression import suppression_of
from app.web import contact_forms, web_bp

PAGE_SIZE = 50
TIMELINE_SHOWN = 50
IMPORTS_SHOWN = 10


@web_bp.get("/contacts")
@login_required
def contacts() -> Any:
    return _contacts_page()


@web_bp.post("/contacts/new")
@login_required
def create_contact() -> Any:
    """Add one contact; an address already in the workspace is pointed to, not updated."""
    data = contact_forms.new_contact_data(request.form)
    workspace = current_user.workspace
    try:
        email = contact_service.normalise_email(data["email"])
    except contact_service.ContactError as exc:
        return _contacts_page(new_errors={exc.field: str(exc)}, status=422)
    existing = contact_service.contacts_by_email(workspace.id, [email]).get(email)
    if existing is not None:
        return _contacts_page(new_errors={"email": "exists"}, existing=existing, status=422)
    try:
        contact, _ = contact_service.upsert_contact(
            workspace, {**data, "email": email}, datetime.now(UTC)
        )
    except contact_service.ContactError as exc:
        return _contacts_page(new_errors={exc.field: str(exc)}, status=422)
    flash(f"Added {contact.email}.", "ok")
    return redirect(url_for("web.contact_page", contact_id=contact.id))


@web_bp.post("/contacts/enroll")
@login_required
def enroll_selection() -> Any:
    """Add the selected contacts to a sequence; every one skipped is listed with why."""
    chosen = _selected_contacts()
    sequence = chosen_sequence()
    if sequence is None or not chosen:
        missing = "Choose a sequence." if sequence is None else "Select at least one contact."
        return _contacts_page(error=missing, status=422)
    result = enrollment_service.enroll_contacts(
        sequence, chosen, datetime.now(UTC), reason=manual_reason()
    )
    return _contacts_page(report=enroll_report(sequence, result, list_each=True))


@web_bp.post("/contacts/add-to-segment")
@login_required
def add_selection_to_segment() -> Any:
    chosen = _selected_contacts()
    segment = _chosen_static_segment()
    if segment is None or not chosen:
        missing = "Choose a static segment." if segment is None else "Select at least one contact."
        return _contacts_page(error=missing, status=422)
    name = segment.name
    joined = segments.add_members(segment, [c.id for c in chosen], datetime.now(UTC))
    already = len(chosen) - len(joined)
    note = f"Added {len(joined)} contact(s) to {name!r}"
    note += f"; {already} were already in it." if already else "."
    return _contacts_page(notice=note)


@web_bp.get("/contacts/<uuid:contact_id>")
@login_required
def contact_page(contact_id: uuid.UUID) -> Any:
    return render_contact_page(owned_contact(contact_id))


@web_bp.post("/contacts/<uuid:contact_id>/edit")
@login_required
def edit_contact(contact_id: uuid.UUID) -> Any:
    """Save names, time zone, tags and custom fields; each changed value is recorded as a
    `field_changed` event (waits and goals react at once). All or nothing."""
    contact = contact_service.get_contact_for_update(current_user.workspace_id, contact_id)
    if contact is None:
        abort(404)
    data, errors = contact_forms.edit_data(contact, request.form)
    if not errors:
        try:
            contact_service.patch_contact(contact, data, datetime.now(UTC), source="ui")
        except contact_service.ContactError as exc:
            errors = {exc.field: str(exc)}
    if errors:
        return render_contact_page(contact, edit_errors=errors, status=422)
    flash("Saved.", "ok")
    return redirect(url_for("web.contact_page", contact_id=contact.id))


@web_bp.post("/contacts/<uuid:contact_id>/enroll")
@login_required
def enroll_contact(contact_id: uuid.UUID) -> Any:
    contact = owned_contact(contact_id)
    sequence = chosen_sequence()
    if sequence is None:
        return render_contact_page(contact, error="Choose a sequence.", status=422)
    result = enrollment_service.enroll_contacts(
        sequence, [contact], datetime.now(UTC), reason=manual_reason()
    )
    return render_contact_page(contact, report=enroll_report(sequence, result, list_each=True))


# --- Import --------------------------------------------------------------------------------


@web_bp.get("/contacts/import")
@login_required
def import_form() -> Any:
    return _import_form()


@web_bp.post("/contacts/import")
@login_required
def upload_import() -> Any:
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        return _import_form({"file": "Choose a CSV file to upload."})
    raw = upload.read(contact_import.MAX_BYTES + 1)
    if len(raw) > contact_import.MAX_BYTES:
        return _import_form(
            {"file": f"The file is larger than {contact_import.MAX_BYTES // 2**20} MB."}
        )
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return _import_form({"file": "The file is not UTF-8 text; save it as CSV UTF-8."})
    segment_id = _uuid(request.form.get("segment_id"))
    if request.form.get("segment_id") and segment_id is None:
        return _import_form({"segment": "Choose one of your static segments."})
    try:
        job = contact_import.start_import(
            current_user.workspace, upload.filename, text, current_user.id, segment_id
        )
    except contact_import.ContactImportError as exc:
        return _import_form({exc.field: str(exc)})
    return redirect(url_for("web.import_progress", import_id=job.id))


@web_bp.get("/contacts/import/<uuid:import_id>")
@login_required
def import_progress(import_id: uuid.UUID) -> Any:
    """The progress page; htmx polls it every second for the fragment until it is done."""
    job = contact_import.get_import(current_user.workspace_id, import_id)
    if job is None:
        abort(404)
    segment = (
        segments.get_segment(current_user.workspace_id, job.segment_id) if job.segment_id else None
    )
    template = "contacts/_import_progress.html" if htmx else "contacts/import_progress.html"
    response = make_response(render_template(template, job=job, segment=segment))
    response.vary.add("HX-Request")
    return response


def _import_form(errors: dict[str, str] | None = None) -> Any:
    workspace_id = current_user.workspace_id
    page = render_template(
        "contacts/import.html",
        errors=errors or {},
        static_segments=[s for s, _ in segments.list_segments(workspace_id) if s.kind == "static"],
        imports=contact_views.recent_imports(workspace_id, IMPORTS_SHOWN),
        chosen_segment=request.form.get("segment_id", ""),
    )
    return page, 422 if errors else 200


# --- Shared with the segment pages -------------------------------------------------------


def chosen_sequence() -> Sequence | None:
    """The sequence named by the form's `sequence_id`: None when none is chosen, 404 when
    it is not one of the workspace's."""
    sequence_id = _uuid(request.form.get("sequence_id"))
    if sequence_id is None:
        return None
    sequence = get_sequence(current_user.workspace_id, sequence_id)
    if sequence is None:
        abort(404)
    return sequence


def manual_reason() -> str:
    return f"added by {current_user.email}"


def enroll_report(sequence: Sequence, result: EnrollResult, list_each: bool) -> dict[str, Any]:
    """What the enroll forms show: counts, each skip's reason counted, and (for small
    selections) each contact skipped."""
    return {
        "sequence": sequence.name,
        "enrolled": len(result.enrolled),
        "re_enrolled": result.re_enrolled,
        "skipped": result.skipped if list_each else [],
        "skipped_count": len(result.skipped),
        "reasons": Counter(skip["reason"] for skip in result.skipped).most_common(),
    }


# --- Helpers -------------------------------------------------------------------------------


def _contacts_page(
    report: dict[str, Any] | None = None,
    notice: str | None = None,
    error: str | None = None,
    status: int = 200,
    new_errors: dict[str, str] | None = None,
    existing: Contact | None = None,
) -> Any:
    source = request.form if request.method == "POST" else request.args
    query = source.get("q", "").strip()
    page = page_number(source.get("page"))
    workspace_id = current_user.workspace_id
    rows, total = contact_views.search(workspace_id, query, PAGE_SIZE, (page - 1) * PAGE_SIZE)
    context = {
        "rows": rows,
        "total": total,
        "query": query,
        "page": page,
        "pages": max(1, -(-total // PAGE_SIZE)),
        "selected": set(request.form.getlist("contact_id")),
    }
    if htmx and request.method == "GET":
        template = "contacts/_results.html"
    else:
        template = "contacts/list.html"
        context |= {
            "sequences": contact_views.enrollable_sequences(workspace_id),
            "static_segments": [
                s for s, _ in segments.list_segments(workspace_id) if s.kind == "static"
            ],
            "report": report,
            "notice": notice,
            "error": error,
            "new_errors": new_errors,
            "existing": existing,
        }
    response = make_response(render_template(template, **context), status)
    response.vary.add("HX-Request")
    return response


def render_contact_page(
    contact: Contact,
    report: dict[str, Any] | None = None,
    error: str | None = None,
    status: int = 200,
    edit_errors: dict[str, str] | None = None,
    removal_error: str | None = None,
) -> Any:
    """The contact's page; the errors are those of the form just refused, shown inline."""
    workspace_id = current_user.workspace_id
    page = render_template(
        "contacts/detail.html",
        contact=contact,
        erased=contact_removal.is_erased(contact),
        suppression=suppression_of(workspace_id, contact.email),
        removal_error=removal_error,
        member_of=segments.segments_of(workspace_id, contact.id),
        enrollments=contact_views.enrollments_of(workspace_id, contact.id),
        timeline=contact_views.timeline(workspace_id, contact.id, TIMELINE_SHOWN),
        sequences=contact_views.enrollable_sequences(workspace_id),
        report=report,
        error=error,
        edit_errors=edit_errors,
        as_json=_as_json,
        edit=contact_forms.edit_values(contact, request.form if edit_errors else None),
    )
    return page, status


def _as_json(value: Any) -> str:
    """Fields and event properties as JSON text (autoescaped by the template)."""
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def owned_contact(contact_id: uuid.UUID) -> Contact:
    found = contact_views.contacts_in(current_user.workspace_id, [contact_id])
    if not found:
        abort(404)
    return found[0]


def _selected_contacts() -> list[Contact]:
    """The checked contacts; 404 if any is not the workspace's (or not an id at all)."""
    raw = request.form.getlist("contact_id")
    ids = {_uuid(value) for value in raw}
    if None in ids:
        abort(404)
    found = contact_views.contacts_in(current_user.workspace_id, [i for i in ids if i])
    if len(found) != len(ids):
        abort(404)
    return found


def _chosen_static_segment() -> Segment | None:
    segment_id = _uuid(request.form.get("segment_id"))
    if segment_id is None:
        return None
    segment = segments.get_segment(current_user.workspace_id, segment_id)
    if segment is None:
        abort(404)
    return segment if segment.kind == "static" else None


def _uuid(raw: str | None) -> uuid.UUID | None:
    try:
        return uuid.UUID(raw or "")
    except ValueError:
        return None
