"""The per-workspace secret that signs outbound webhooks: made on first use, rotated on
request (the old one stops signing at once)."""

from __future__ import annotations

import secrets
import uuid

from sqlalchemy import select, update

from app.extensions import db
from app.models import Workspace


def new_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


def secret_for(workspace_id: uuid.UUID) -> str:
    """The workspace's signing secret, made now if it has none. Two first uses at once
    agree: only one guarded UPDATE writes, both read what it wrote."""
    current = _stored(workspace_id)
    if current:
        return current
    db.session.execute(
        update(Workspace)
        .where(Workspace.id == workspace_id, Workspace.webhook_secret.is_(None))
        .values(webhook_secret=new_secret())
    )
    db.session.commit()
    stored = _stored(workspace_id)
    assert stored is not None
    return stored


def _stored(workspace_id: uuid.UUID) -> str | None:
    return db.session.scalar(select(Workspace.webhook_secret).where(Workspace.id == workspace_id))


def rotate_secret(workspace_id: uuid.UUID) -> str:
    """A fresh secret; webhooks sent from now on are signed with it."""
    secret = new_secret()
    db.session.execute(
        update(Workspace).where(Workspace.id == workspace_id).values(webhook_secret=secret)
    )
    db.session.commit()
    return secret
