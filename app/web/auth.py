"""Sign-in with email and password; a user only ever sees their own workspace."""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import urlsplit

from flask import redirect, render_template, request, url_for
from flask_login import current_user, login_required, login_user, logout_user

from app.extensions import db, login_manager
from app.models import User
from app.services.accounts import authenticate, end_sessions
from app.web import web_bp
from app.web.sign_in_throttle import throttle_sign_in

login_manager.login_view = "web.sign_in"
login_manager.login_message = "Sign in to continue."
# A prompt, not a success: the neutral "info" style rather than the default green.
login_manager.login_message_category = "info"


@login_manager.user_loader
def load_user(session_id: str) -> User | None:
    """The user of a session or remember cookie, unless it is of an older generation
    (signed out or password changed since)."""
    user_id, _, generation = session_id.partition(":")
    try:
        user = db.session.get(User, uuid.UUID(user_id))
    except ValueError:
        return None
    if user is None or str(user.session_generation) != generation:
        return None
    return user


def _safe_next(target: str | None) -> str:
    """Only same-site paths: a sign-in link must not bounce users to another site."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc:
            return target
    return url_for("web.sequences")


@web_bp.route("/sign-in", methods=["GET", "POST"])
@throttle_sign_in
def sign_in() -> Any:
    if current_user.is_authenticated:
        return redirect(url_for("web.sequences"))
    error = None
    email = request.form.get("email", "")
    if request.method == "POST":
        user = authenticate(email, request.form.get("password", ""))
        if user is not None:
            login_user(user, remember=bool(request.form.get("remember")))
            return redirect(_safe_next(request.args.get("next")))
        error = "That email and password do not match an account."
    status = 401 if error else 200
    return render_template("auth/sign_in.html", error=error, email=email), status


@web_bp.post("/sign-out")
@login_required
def sign_out() -> Any:
    """Ends this user's every session, here and on other devices, and their remember
    cookies: a copied cookie is worthless after sign-out."""
    end_sessions(current_user)
    logout_user()
    return redirect(url_for("web.sign_in"))
