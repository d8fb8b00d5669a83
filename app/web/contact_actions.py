"""What a user does to a contact as a whole from its page: stop emailing them
(unsubscribe) or allow it again, and delete or erase them. Each form carries its CSRF
token and sits behind a disclosure that says what will happen; deleting and erasing also
need the confirmation box ticked (refused inline otherwise)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from flask import flash, redirect, request, url_for
from flask_login import current_user, login_required

from app.services import contact_removal, unsubscribe
from app.web import web_bp
from app.web.contacts import owned_contact, render_contact_page

NOT_CONFIRMED = "Tick the box to confirm: this cannot be undone."


@web_bp.post("/contacts/<uuid:contact_id>/unsubscribe")
@login_required
def unsubscribe_contact(contact_id: uuid.UUID) -> Any:
    """Unsubscribe by hand: suppressed, enrollments ended, an `unsubscribed` event."""
    contact = owned_contact(contact_id)
    unsubscribe.unsubscribe_by_hand(contact, datetime.now(UTC), current_user.email)
    flash(f"{contact.email} is unsubscribed: no email will be sent to this address.", "ok")
    return redirect(url_for("web.contact_page", contact_id=contact_id))


@web_bp.post("/contacts/<uuid:contact_id>/allow-email")
@login_required
def allow_email(contact_id: uuid.UUID) -> Any:
    """Lift the unsubscribe and the suppression; ended enrollments stay ended."""
    contact = owned_contact(contact_id)
    if unsubscribe.allow_email_again(contact, datetime.now(UTC), current_user.email):
        flash(f"{contact.email} can be emailed again.", "ok")
    else:
        flash(f"{contact.email} was neither unsubscribed nor suppressed.", "error")
    return redirect(url_for("web.contact_page", contact_id=contact_id))


@web_bp.post("/contacts/<uuid:contact_id>/delete")
@login_required
def delete_contact(contact_id: uuid.UUID) -> Any:
    contact = owned_contact(contact_id)
    if request.form.get("confirmed") != "yes":
        return render_contact_page(contact, removal_error=NOT_CONFIRMED, status=422)
    email = contact.email
    contact_removal.delete_contact(contact)
    flash(f"Deleted {email} and everything recorded about them.", "ok")
    return redirect(url_for("web.contacts"))


@web_bp.post("/contacts/<uuid:contact_id>/erase")
@login_required
def erase_contact(contact_id: uuid.UUID) -> Any:
    contact = owned_contact(contact_id)
    if request.form.get("confirmed") != "yes":
        return render_contact_page(contact, removal_error=NOT_CONFIRMED, status=422)
    contact_removal.erase_contact(contact, datetime.now(UTC))
    flash(
        "Erased: nothing that identifies this person is kept; the reports still count "
        "what was sent.",
        "ok",
    )
    return redirect(url_for("web.contact_page", contact_id=contact_id))
