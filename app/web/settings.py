"""The Settings page: the workspace's API tokens (create, shown once; revoke), its webhook
signing secret (shown, rotated), its frequency cap and the signed-in user's password."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required, login_user

from app.services import accounts
from app.services.frequency_caps import set_frequency_cap
from app.services.webhook_secrets import rotate_secret, secret_for
from app.web import web_bp


def _page(status: int = 200, **context: Any) -> Any:
    tokens = accounts.list_tokens(current_user.workspace_id)
    context.setdefault("errors", {})
    secret = secret_for(current_user.workspace_id)
    page = render_template("settings/index.html", tokens=tokens, webhook_secret=secret, **context)
    return page, status


@web_bp.get("/settings")
@login_required
def settings() -> Any:
    return _page()


@web_bp.post("/settings/tokens")
@login_required
def create_api_token() -> Any:
    name = request.form.get("name", "")
    try:
        token = accounts.create_token(current_user.workspace, name)
    except accounts.AccountError as exc:
        return _page(422, errors={"name": str(exc)}, token_name=name)
    body, status = _page(new_token=token, new_token_name=name.strip())
    # The one time the token is seen: no cache, no history entry to come back to.
    return body, status, {"Cache-Control": "no-store"}


@web_bp.post("/settings/tokens/<uuid:token_id>/revoke")
@login_required
def revoke_api_token(token_id: uuid.UUID) -> Any:
    try:
        token = accounts.find_token(str(token_id), current_user.workspace_id)
    except accounts.AccountError:
        abort(404)  # another workspace's token is as absent as a made-up one
    if accounts.revoke_token(token, datetime.now(UTC)):
        flash(f"Revoked {token.prefix}… ({token.name}): it no longer opens the API.", "ok")
    return redirect(url_for("web.settings"))


@web_bp.post("/settings/webhook-secret/rotate")
@login_required
def rotate_webhook_secret() -> Any:
    rotate_secret(current_user.workspace_id)
    flash("New webhook secret: webhooks are signed with it from now on.", "ok")
    return redirect(url_for("web.settings") + "#webhooks")


@web_bp.post("/settings/frequency-cap")
@login_required
def save_frequency_cap() -> Any:
    raw: dict[str, Any] = {}
    for key in ("per_day", "per_week"):
        text = request.form.get(key, "").strip()
        if text:
            raw[key] = int(text) if text.isdigit() and len(text) <= 6 else text
    try:
        cap = set_frequency_cap(current_user.workspace, raw)
    except ValueError as exc:
        field = "per_week" if "per_week" in str(exc) else "per_day"
        return _page(422, errors={f"cap_{field}": str(exc)})
    flash("Frequency cap saved." if cap else "Frequency cap removed: no limit.", "ok")
    return redirect(url_for("web.settings") + "#frequency-cap")


@web_bp.post("/settings/password")
@login_required
def change_password() -> Any:
    new = request.form.get("new_password", "")
    if new != request.form.get("confirm_password", ""):
        return _page(422, errors={"confirm_password": "the two new passwords differ"})
    user = current_user._get_current_object()
    try:
        accounts.change_password(user, request.form.get("current_password", ""), new)
    except accounts.AccountError as exc:
        return _page(422, errors={exc.field or "new_password": str(exc)})
    # Every older session is over; this one goes on under the new generation.
    remembered = current_app.config.get("REMEMBER_COOKIE_NAME", "remember_token") in request.cookies
    login_user(user, remember=remembered)
    flash("Password changed. Every other session has been signed out.", "ok")
    return redirect(url_for("web.settings"))
