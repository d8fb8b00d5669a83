"""Hosted forms: the public page and its POST (no sign-in, embeddable, so no CSRF token;
the honeypot and rate limit guard it), and the signed-in list and settings pages."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from flask import abort, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from werkzeug.datastructures import MultiDict

from app.config import current_settings
from app.extensions import csrf
from app.models import Form, Sequence
from app.services import forms as form_service
from app.web import web_bp


@web_bp.get("/f/<public_id>")
def public_form(public_id: str) -> Any:
    form = _public_or_404(public_id)
    return _public_page(form, {}, {})


@web_bp.post("/f/<public_id>")
@csrf.exempt
def submit_public_form(public_id: str) -> Any:
    form = _public_or_404(public_id)
    result = form_service.submit(form, request.form, request.remote_addr or "", datetime.now(UTC))
    if result.outcome == "invalid":
        return _public_page(form, result.values, result.errors), 422
    if result.outcome == "rate_limited":
        return render_template("forms/message.html", form=form, rate_limited=True), 429
    settings = form_service.settings_of(form)
    if settings["redirect_url"]:
        return redirect(settings["redirect_url"], code=303)
    return render_template("forms/message.html", form=form, message=settings["success_message"])


@web_bp.get("/forms")
@login_required
def forms() -> Any:
    rows = form_service.overview(current_user.workspace_id)
    return render_template(
        "forms/list.html", rows=rows, public_url=public_url, honeypot=form_service.HONEYPOT
    )


@web_bp.route("/forms/<uuid:form_id>", methods=["GET", "POST"])
@login_required
def form_settings(form_id: uuid.UUID) -> Any:
    form = form_service.get_form(current_user.workspace_id, form_id)
    if form is None:
        abort(404)
    if request.method == "GET":
        return _settings_page(form, _form_values(form), {})
    fields, origins = _posted_fields(form, request.form)
    data = {
        "fields": fields,
        "success_message": request.form.get("success_message", ""),
        "redirect_url": request.form.get("redirect_url", ""),
    }
    try:
        form_service.update_form(form, data)
    except form_service.FormError as exc:
        errors = {_input_name(key, origins): message for key, message in exc.errors.items()}
        return _settings_page(form, request.form, errors), 422
    return redirect(url_for("web.form_settings", form_id=form.id, saved=1), code=303)


@web_bp.app_template_global()
def hosted_form_url(sequence: Sequence) -> str | None:
    """The public link of the form a sequence's stored trigger names (created if missing),
    for the builder's settings panel; None for other triggers."""
    trigger = sequence.trigger_config or {}
    name = trigger.get("form")
    if trigger.get("type") != "form_submission" or not name:
        return None
    return public_url(form_service.ensure_form(sequence.workspace_id, sequence.tenant_id, name))


def public_url(form: Form) -> str:
    """The absolute link to the hosted form, from BASE_URL (embed snippets need it absolute)."""
    base = current_settings().base_url.rstrip("/")
    return base + url_for("web.public_form", public_id=form.public_id)


def _public_or_404(public_id: str) -> Form:
    form = form_service.get_public(public_id)
    if form is None:
        abort(404)
    return form


def _public_page(form: Form, values: dict[str, str], errors: dict[str, str]) -> str:
    return render_template(
        "forms/public.html",
        form=form,
        values=values,
        errors=errors,
        honeypot=form_service.HONEYPOT,
    )


def _settings_page(form: Form, values: MultiDict[str, str], errors: dict[str, str]) -> str:
    return render_template(
        "forms/edit.html",
        form=form,
        values=values,
        errors=errors,
        field_types=form_service.FIELD_TYPES,
        public_link=public_url(form),
        saved=bool(request.args.get("saved")) and not errors,
    )


def _form_values(form: Form) -> MultiDict[str, str]:
    """The settings page's inputs for the stored form: `label.<name>`, `required.<name>`."""
    settings = form_service.settings_of(form)
    pairs = [("success_message", settings["success_message"])]
    pairs.append(("redirect_url", settings["redirect_url"]))
    for spec in form.fields:
        pairs.append((f"label.{spec['name']}", spec["label"]))
        if spec.get("required"):
            pairs.append((f"required.{spec['name']}", "on"))
    return MultiDict(pairs)


def _posted_fields(
    form: Form, posted: MultiDict[str, str]
) -> tuple[list[dict[str, Any]], list[str]]:
    """The field list the page describes (kept fields relabelled, a new one appended) and,
    per entry, the prefix of its inputs, to put the service's messages back beside them."""
    fields, origins = [], []
    for spec in form.fields:
        name = spec["name"]
        if name != "email" and posted.get(f"remove.{name}"):
            continue
        fields.append(
            {
                **spec,  # a type's own settings (options, time zone, fixed value) are kept
                "label": posted.get(f"label.{name}", ""),
                "required": bool(posted.get(f"required.{name}")),
            }
        )
        origins.append(name)
    if posted.get("new.name", "").strip() or posted.get("new.label", "").strip():
        fields.append(
            {
                "name": posted.get("new.name", "").strip(),
                "label": posted.get("new.label", ""),
                "type": posted.get("new.type", "text"),
                "required": bool(posted.get("new.required")),
                "options": posted.get("new.options", "").splitlines(),
                "timezone": posted.get("new.timezone", ""),
                "value": posted.get("new.value", ""),
            }
        )
        origins.append("new")
    return fields, origins


def _input_name(key: str, origins: list[str]) -> str:
    """`fields.2.label` -> `label.company` (or `new.label` for the added field)."""
    parts = key.split(".")
    if len(parts) == 3 and parts[0] == "fields" and parts[1].isdigit():
        origin = origins[int(parts[1])]
        return f"new.{parts[2]}" if origin == "new" else f"{parts[2]}.{origin}"
    return key
