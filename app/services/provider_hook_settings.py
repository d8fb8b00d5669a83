"""A workspace's provider webhooks: turned on (a fresh URL token), given the provider's
secret (sealed with `secret_box`, never shown back), given a new URL, turned off.
Every function is scoped to one workspace and commits."""

from __future__ import annotations

import secrets
import uuid

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from app.extensions import db
from app.models import ProviderHook, Workspace
from app.services.provider_hooks import PROVIDERS
from app.services.secret_box import seal, unseal

MAX_TOKEN = 64


def new_token() -> str:
    return secrets.token_urlsafe(32)


def hooks_for(workspace_id: uuid.UUID) -> dict[str, ProviderHook]:
    """The workspace's webhooks by provider."""
    return {
        hook.provider: hook for hook in db.session.scalars(ProviderHook.in_workspace(workspace_id))
    }


def find(provider: str, token: str) -> ProviderHook | None:
    """The webhook this URL names; None for an unknown provider or token."""
    if provider not in PROVIDERS or not token or len(token) > MAX_TOKEN:
        return None
    return db.session.scalar(
        select(ProviderHook).where(ProviderHook.provider == provider, ProviderHook.token == token)
    )


def enable(workspace: Workspace, provider: str) -> ProviderHook:
    """The workspace's webhook for this provider, made now if it has none (a second
    request at the same moment finds the first one's)."""
    existing = hooks_for(workspace.id).get(provider)
    if existing is not None:
        return existing
    hook = ProviderHook(
        tenant_id=workspace.tenant_id,
        workspace_id=workspace.id,
        provider=provider,
        token=new_token(),
    )
    db.session.add(hook)
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        return hooks_for(workspace.id)[provider]
    return hook


def save_secret(hook: ProviderHook, value: str) -> None:
    """Check the provider's secret (ValueError saying what is wrong) and store it sealed."""
    hook.sealed_secret = seal(PROVIDERS[hook.provider].check_secret(value))
    db.session.commit()


def secret_of(hook: ProviderHook) -> str | None:
    """The stored secret in clear (SecretUnreadable when the key changed), None if none."""
    return unseal(hook.sealed_secret) if hook.sealed_secret else None


def rotate(hook: ProviderHook) -> None:
    """A new URL: the old one answers 404 from now on."""
    hook.token = new_token()
    db.session.commit()


def disable(workspace_id: uuid.UUID, provider: str) -> bool:
    """Forget the webhook and its secret; its URL answers 404. Whether there was one."""
    result = db.session.execute(
        delete(ProviderHook).where(
            ProviderHook.workspace_id == workspace_id, ProviderHook.provider == provider
        )
    )
    db.session.commit()
    return bool(result.rowcount)
