"""Settings, Connected inboxes: the workspace's IMAP mailboxes (list, add, edit, delete)
and "Test connection" (HTMX), which says what failed. Passwords are stored sealed and never
shown back; an edit that leaves the password empty keeps the stored one."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from app.models.inbox import Mailbox
from app.services import imap, mailboxes
from app.services.mailboxes import SECURITY_LABELS, MailboxError
from app.web import web_bp


@web_bp.get("/settings/mailboxes")
@login_required
def mailboxes_page() -> Any:
    return _list_page()


@web_bp.post("/settings/mailboxes")
@login_required
def create_mailbox() -> Any:
    try:
        name = mailboxes.read_name(request.form)
        settings = mailboxes.read_settings(request.form)
    except MailboxError as exc:
        return _list_page({exc.field: str(exc)})
    mailboxes.save_mailbox(current_user.workspace, name, settings, datetime.now(UTC))
    flash(f"Connected {name!r}: new messages are read every minute.", "ok")
    return redirect(url_for("web.mailboxes_page"))


@web_bp.get("/settings/mailboxes/<uuid:mailbox_id>")
@login_required
def mailbox_page(mailbox_id: uuid.UUID) -> Any:
    return _edit_page(_owned(mailbox_id))


@web_bp.post("/settings/mailboxes/<uuid:mailbox_id>")
@login_required
def update_mailbox(mailbox_id: uuid.UUID) -> Any:
    mailbox = _owned(mailbox_id)
    try:
        name = mailboxes.read_name(request.form)
        settings = mailboxes.read_settings(request.form, mailbox)
    except MailboxError as exc:
        return _edit_page(mailbox, {exc.field: str(exc)})
    mailboxes.save_mailbox(current_user.workspace, name, settings, datetime.now(UTC), mailbox)
    flash(f"Saved {name!r}.", "ok")
    return redirect(url_for("web.mailboxes_page"))


@web_bp.post("/settings/mailboxes/<uuid:mailbox_id>/delete")
@login_required
def delete_mailbox(mailbox_id: uuid.UUID) -> Any:
    mailbox = _owned(mailbox_id)
    name = mailbox.name
    mailboxes.delete_mailbox(mailbox)
    flash(f"Disconnected {name!r}; nothing in the mailbox was changed.", "ok")
    return redirect(url_for("web.mailboxes_page"))


@web_bp.post("/settings/mailboxes/test")
@login_required
def test_new_mailbox() -> Any:
    """HTMX: try the settings typed in the add form."""
    return _test(None)


@web_bp.post("/settings/mailboxes/<uuid:mailbox_id>/test")
@login_required
def test_mailbox(mailbox_id: uuid.UUID) -> Any:
    """HTMX: try the edit form's settings (the stored password when none is typed)."""
    return _test(_owned(mailbox_id))


def _test(stored: Mailbox | None) -> Any:
    try:
        settings = mailboxes.read_settings(request.form, stored)
    except MailboxError as exc:
        return render_template("settings/_connection_result.html", problem=str(exc))
    problem = imap.test_connection(settings)
    return render_template(
        "settings/_connection_result.html", problem=problem, folder=settings.folder
    )


def _list_page(errors: dict[str, str] | None = None) -> Any:
    page = render_template(
        "settings/mailboxes.html",
        mailboxes=mailboxes.list_mailboxes(current_user.workspace_id),
        values=request.form if errors else {},
        errors=errors or {},
        security_labels=SECURITY_LABELS,
    )
    return page, 422 if errors else 200


def _edit_page(mailbox: Mailbox, errors: dict[str, str] | None = None) -> Any:
    values = (
        request.form
        if errors
        else {
            "name": mailbox.name,
            "host": mailbox.host,
            "port": str(mailbox.port),
            "security": mailbox.security,
            "username": mailbox.username,
            "folder": mailbox.folder,
            "move_to": mailbox.move_to or "",
        }
    )
    page = render_template(
        "settings/mailbox.html",
        mailbox=mailbox,
        values=values,
        errors=errors or {},
        security_labels=SECURITY_LABELS,
    )
    return page, 422 if errors else 200


def _owned(mailbox_id: uuid.UUID) -> Mailbox:
    mailbox = mailboxes.get_mailbox(current_user.workspace_id, mailbox_id)
    if mailbox is None:
        abort(404)  # another workspace's mailbox is as absent as a made-up one
    return mailbox
