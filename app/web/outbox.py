"""The outbox for operators: the filtered, paged list; one message with its headers, body
and attempts; send again and cancel."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from app.models.message import MESSAGE_STATUSES, RESENDABLE
from app.services import outbox as outbox_service
from app.services.outbox import ADDRESS_MAX, BadCursor, OutboxFilter
from app.web import web_bp
from app.web.back_links import local_path


@web_bp.get("/outbox")
@login_required
def outbox() -> Any:
    """Newest first, 50 a page, filtered by the GET form (status, sequence, step, address,
    failing), with the count of each status under the other filters: all in the URL."""
    workspace_id, now = current_user.workspace_id, datetime.now(UTC)
    filters, errors = _filters(request.args)
    sequences, steps = outbox_service.filter_choices(workspace_id, filters.sequence_id)
    page, counts, args = None, {}, _filter_args(filters)
    if not errors:
        try:
            page = outbox_service.list_page(workspace_id, filters, now, request.args.get("cursor"))
            counts = outbox_service.status_counts(workspace_id, filters, now)
        except BadCursor as exc:
            errors["cursor"] = str(exc)
    page_html = render_template(
        "outbox/list.html",
        page=page,
        counts=counts,
        filters=filters,
        errors=errors,
        statuses=MESSAGE_STATUSES,
        sequences=sequences,
        steps=steps,
        args=args,
        others={key: value for key, value in args.items() if key != "status"},
        resendable=RESENDABLE,
        first_page=not request.args.get("cursor"),
    )
    return page_html, 400 if errors else 200


def _filters(args: Any) -> tuple[OutboxFilter, dict[str, str]]:
    """The filters the form sent and, by field, what was wrong with them."""
    errors: dict[str, str] = {}
    status = args.get("status") or None
    if status is not None and status not in MESSAGE_STATUSES:
        errors["status"] = f"status must be one of {', '.join(MESSAGE_STATUSES)}"
        status = None
    ids = {}
    for field in ("sequence", "step"):
        raw = args.get(field) or None
        try:
            ids[field] = uuid.UUID(raw) if raw else None
        except ValueError:
            errors[field], ids[field] = f"{field} must be one of the choices", None
    address = (args.get("address") or "").strip() or None
    if address is not None and len(address) > ADDRESS_MAX:
        errors["address"] = f"address must be at most {ADDRESS_MAX} characters"
        address = None
    failing = args.get("failing") in ("1", "on", "true")
    filters = OutboxFilter(status, ids["sequence"], ids["step"], address, failing)
    return filters, errors


def _filter_args(filters: OutboxFilter) -> dict[str, str]:
    """The filters as URL arguments, for the pager's and the status links."""
    args = {
        "status": filters.status,
        "sequence": str(filters.sequence_id) if filters.sequence_id else None,
        "step": str(filters.step_id) if filters.step_id else None,
        "address": filters.address,
        "failing": "1" if filters.failing else None,
    }
    return {key: value for key, value in args.items() if value}


@web_bp.get("/outbox/<uuid:message_id>")
@login_required
def outbox_message(message_id: uuid.UUID) -> Any:
    """One message: headers as sent (or as they would be), the body in a sandboxed frame,
    the text part, status, last error and every attempt with the server's answers."""
    now = datetime.now(UTC)
    detail = outbox_service.message_detail(current_user.workspace_id, message_id, now)
    if detail is None:
        abort(404)
    return render_template(
        "outbox/message.html",
        detail=detail,
        resendable=RESENDABLE,
        cancellable=outbox_service.CANCELLABLE,
    )


@web_bp.post("/outbox/<uuid:message_id>/send-again")
@login_required
def send_again(message_id: uuid.UUID) -> Any:
    """The Send again (list) and Retry (message page) buttons, for a message whose SMTP
    transaction broke off (`unknown`) or that failed: queued again for the next pass."""
    workspace_id = current_user.workspace_id
    if outbox_service.get_message(workspace_id, message_id) is None:
        abort(404)
    if outbox_service.send_again(workspace_id, message_id, datetime.now(UTC)):
        flash("Queued again: it goes out with the next dispatch.", "ok")
    else:
        flash(
            "This message is not unknown or failed any more; nothing was queued.",
            "error",
        )
    return redirect(local_path(request.form.get("next")) or url_for("web.outbox"))


@web_bp.post("/outbox/<uuid:message_id>/cancel")
@login_required
def cancel_message(message_id: uuid.UUID) -> Any:
    """Cancel a queued message, naming who did: it is never sent afterwards."""
    workspace_id = current_user.workspace_id
    if outbox_service.get_message(workspace_id, message_id) is None:
        abort(404)
    if outbox_service.cancel(workspace_id, message_id, current_user.email, datetime.now(UTC)):
        flash("Cancelled: it will not be sent.", "ok")
    else:
        flash("Only a queued message can be cancelled; this one has moved on.", "error")
    return redirect(url_for("web.outbox_message", message_id=message_id))
