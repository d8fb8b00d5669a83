"""Settings → Provider webhooks: per sending provider, turn the webhook on (a URL to paste
into the provider), store the provider's secret (sealed, never shown back), give it a new
URL, or turn it off. Every route acts on the signed-in user's workspace only."""

from __future__ import annotations

from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from app.config import current_settings
from app.models import ProviderHook
from app.services import provider_hook_settings as hook_settings
from app.services.provider_hooks import PROVIDERS
from app.web import web_bp

PROVIDER_ARG = f"<any({', '.join(PROVIDERS)}):provider>"


def hook_url(hook: ProviderHook) -> str:
    """The URL the provider posts to, on the app's public address (BASE_URL)."""
    path = url_for("hooks.receive", provider=hook.provider, token=hook.token)
    return current_settings().base_url + path


def _page(status: int = 200, errors: dict[str, str] | None = None) -> Any:
    hooks = hook_settings.hooks_for(current_user.workspace_id)
    rows = []
    for name, provider in PROVIDERS.items():
        hook = hooks.get(name)
        rows.append({"provider": provider, "hook": hook, "url": hook_url(hook) if hook else None})
    page = render_template("settings/provider_hooks.html", rows=rows, errors=errors or {})
    return page, status


def _own_hook(provider: str) -> ProviderHook:
    hook = hook_settings.hooks_for(current_user.workspace_id).get(provider)
    if hook is None:
        abort(404)
    return hook


def _back(provider: str) -> Any:
    return redirect(url_for("web.provider_hooks") + f"#{provider}")


@web_bp.get("/settings/provider-hooks")
@login_required
def provider_hooks() -> Any:
    return _page()


@web_bp.post(f"/settings/provider-hooks/{PROVIDER_ARG}/enable")
@login_required
def enable_provider_hook(provider: str) -> Any:
    hook_settings.enable(current_user.workspace, provider)
    kind = PROVIDERS[provider]
    flash(f"{kind.label}: paste the webhook URL there, then save its {kind.secret_label}.", "ok")
    return _back(provider)


@web_bp.post(f"/settings/provider-hooks/{PROVIDER_ARG}/secret")
@login_required
def save_provider_hook_secret(provider: str) -> Any:
    hook = _own_hook(provider)
    try:
        hook_settings.save_secret(hook, request.form.get("secret", ""))
    except ValueError as exc:
        return _page(422, errors={provider: str(exc)})
    flash(f"{PROVIDERS[provider].label}: {PROVIDERS[provider].secret_label} saved.", "ok")
    return _back(provider)


@web_bp.post(f"/settings/provider-hooks/{PROVIDER_ARG}/rotate")
@login_required
def rotate_provider_hook(provider: str) -> Any:
    hook_settings.rotate(_own_hook(provider))
    flash(f"{PROVIDERS[provider].label}: new URL. The old one answers 404 from now on.", "ok")
    return _back(provider)


@web_bp.post(f"/settings/provider-hooks/{PROVIDER_ARG}/disable")
@login_required
def disable_provider_hook(provider: str) -> Any:
    if not hook_settings.disable(current_user.workspace_id, provider):
        abort(404)
    flash(f"{PROVIDERS[provider].label}: webhook turned off and its secret forgotten.", "ok")
    return _back(provider)
