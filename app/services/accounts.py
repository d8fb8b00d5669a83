"""Workspaces, users, passwords and API tokens."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from datetime import datetime

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select

from app.extensions import db
from app.models import ApiToken, Tenant, User, Workspace

_hasher = PasswordHasher()
TOKEN_PREFIX = "pm_"


class AccountError(ValueError):
    """A request about accounts that cannot be honoured, with a message for the user."""


def create_workspace(name: str, timezone: str = "UTC") -> Workspace:
    name = name.strip()
    if not name:
        raise AccountError("a workspace needs a name")
    if db.session.scalar(select(Workspace).where(Workspace.name == name)):
        raise AccountError(f"a workspace named {name!r} already exists")
    tenant = Tenant(name=name)
    workspace = Workspace(name=name, tenant=tenant, timezone=timezone)
    db.session.add(workspace)
    db.session.commit()
    return workspace


def workspace_named(name: str) -> Workspace:
    workspace = db.session.scalar(select(Workspace).where(Workspace.name == name))
    if workspace is None:
        raise AccountError(f"no workspace named {name!r}")
    return workspace


def create_user(email: str, workspace: Workspace, password: str, name: str | None = None) -> User:
    email = email.strip().lower()
    if "@" not in email:
        raise AccountError(f"{email!r} is not an email address")
    if len(password) < 8:
        raise AccountError("a password needs at least 8 characters")
    if db.session.scalar(select(User).where(User.email == email)):
        raise AccountError(f"a user with the email {email!r} already exists")
    user = User(
        email=email,
        name=name,
        password_hash=_hasher.hash(password),
        tenant_id=workspace.tenant_id,
        workspace_id=workspace.id,
    )
    db.session.add(user)
    db.session.commit()
    return user


def authenticate(email: str, password: str) -> User | None:
    """The user for these credentials, or None; the hash is upgraded when argon2 says so."""
    user = db.session.scalar(select(User).where(User.email == email.strip().lower()))
    if user is None:
        _hasher.hash(password)  # same work either way: no user enumeration by timing
        return None
    try:
        _hasher.verify(user.password_hash, password)
    except (VerificationError, InvalidHashError):
        return None
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
        db.session.commit()
    return user


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(workspace: Workspace, label: str | None = None) -> str:
    """A new API token; only its hash is kept, so this is the one time it is seen."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    db.session.add(
        ApiToken(
            token_hash=_digest(token),
            prefix=token[:10],
            label=label,
            tenant_id=workspace.tenant_id,
            workspace_id=workspace.id,
        )
    )
    db.session.commit()
    return token


def workspace_for_token(token: str, now: datetime) -> uuid.UUID | None:
    record = db.session.scalar(
        select(ApiToken).where(ApiToken.token_hash == _digest(token), ApiToken.revoked_at.is_(None))
    )
    if record is None:
        return None
    record.last_used_at = now
    db.session.commit()
    return record.workspace_id
