"""Unsubscribe links: a confirmation page on GET, the change only on POST (RFC 8058 one-click)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import abort, render_template, request

from app.extensions import csrf
from app.services.unsubscribe import sender_of, unsubscribe_by_token
from app.web import web_bp


@web_bp.get("/u/<token>")
def unsubscribe_page(token: str) -> Any:
    sender = sender_of(token)
    if sender is None:
        abort(404)
    return render_template("pages/unsubscribe.html", token=token, done=False, sender=sender)


@web_bp.post("/u/<token>")
@csrf.exempt
def unsubscribe(token: str) -> Any:
    """Mail clients POST `List-Unsubscribe=One-Click` with no cookies: 200, never a redirect."""
    if not unsubscribe_by_token(
        token, datetime.now(UTC), one_click="List-Unsubscribe" in request.form
    ):
        abort(404)
    return render_template(
        "pages/unsubscribe.html", token=token, done=True, sender=sender_of(token)
    )
