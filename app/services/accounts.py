"""Workspaces, users, passwords and API tokens."""

from __future__ import annotations

import hashlib
import secrets
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select

from app.extensions import db
from app.models import ApiToken, Tenant, User, Workspace

_hasher = PasswordHasher()
TOKEN_PREFIX = "pm_"
MIN_PASSWORD = 8
MAX_TOKEN_NAME = 100
# last_used_at is a hint for people, not an audit log: one write a minute per token at most.
LAST_USED_RESOLUTION = timedelta(minutes=1)
TOKEN_CACHE_SECONDS = 5.0
"""How long a process trusts a token it checked without asking the database again: the
longest a token revoked in another process (another gunicorn worker, the CLI) still works.
In the process that revokes it, it stops at once."""
TOKEN_CACHE_SIZE = 1024


class AccountError(ValueError):
    """A request about accounts that cannot be honoured, with a message for the user and,
    when one form field is at fault, its name."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


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


def normalise_email(email: str) -> str:
    """How an email names an account: sign-in, throttling and sign-up agree on it."""
    return email.strip().lower()


def _check_password(password: str, field: str = "password") -> None:
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"a password needs at least {MIN_PASSWORD} characters", field)


def create_user(email: str, workspace: Workspace, password: str, name: str | None = None) -> User:
    email = normalise_email(email)
    if "@" not in email:
        raise AccountError(f"{email!r} is not an email address")
    _check_password(password)
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
    user = db.session.scalar(select(User).where(User.email == normalise_email(email)))
    if user is None:
        _hasher.hash(password)  # same work either way: no user enumeration by timing
        return None
    if not _password_matches(user, password):
        return None
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
        db.session.commit()
    return user


def _password_matches(user: User, password: str) -> bool:
    try:
        return _hasher.verify(user.password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def end_sessions(user: User) -> None:
    """Every session and remember cookie issued so far stops working: they carry the old
    generation, and the user loader refuses it."""
    user.session_generation += 1
    db.session.commit()


def change_password(user: User, current: str, new: str) -> None:
    """A new password also ends every session made with the old one."""
    if not _password_matches(user, current):
        raise AccountError("that is not your current password", "current_password")
    _check_password(new, "new_password")
    user.password_hash = _hasher.hash(new)
    end_sessions(user)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _token_name(name: str) -> str:
    name = name.strip()
    if not name:
        raise AccountError("give the token a name, e.g. 'CRM sync'", "name")
    if len(name) > MAX_TOKEN_NAME or not name.isprintable():
        raise AccountError(
            f"a token name has at most {MAX_TOKEN_NAME} characters and no control characters",
            "name",
        )
    return name


def create_token(workspace: Workspace, name: str = "API token") -> str:
    """A new API token; only its hash is kept, so this is the one time it is seen."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    db.session.add(
        ApiToken(
            token_hash=_digest(token),
            prefix=token[:10],
            name=_token_name(name),
            tenant_id=workspace.tenant_id,
            workspace_id=workspace.id,
        )
    )
    db.session.commit()
    return token


@dataclass(frozen=True)
class TokenHolder:
    """What a request needs of its API token: whose workspace it opens, and who acted."""

    id: uuid.UUID
    workspace_id: uuid.UUID
    tenant_id: uuid.UUID
    name: str
    prefix: str


_checked: dict[str, tuple[TokenHolder, float]] = {}
"""Tokens this process checked, by digest, with the monotonic time they are trusted until.
Only valid tokens are kept (a wrong guess costs a query, and fills nothing)."""


def token_holder(token: str, now: datetime) -> TokenHolder:
    """The token's holder, from this process's memory for up to TOKEN_CACHE_SECONDS after
    the database last said it is valid; AccountError says why it opens nothing."""
    digest = _digest(token)
    found = _checked.get(digest)
    if found is not None and found[1] > time.monotonic():
        return found[0]
    record = token_record(token, now)
    holder = TokenHolder(
        record.id, record.workspace_id, record.tenant_id, record.name, record.prefix
    )
    if len(_checked) >= TOKEN_CACHE_SIZE:
        _checked.clear()
    _checked[digest] = (holder, time.monotonic() + TOKEN_CACHE_SECONDS)
    return holder


def token_record(token: str, now: datetime) -> ApiToken:
    """The API token's record (its workspace, and its name and prefix to say who acted);
    AccountError says why it opens nothing."""
    record = db.session.scalar(select(ApiToken).where(ApiToken.token_hash == _digest(token)))
    if record is None:
        raise AccountError("this API token is not valid")
    if record.revoked_at is not None:
        raise AccountError("this API token was revoked")
    if record.last_used_at is None or now - record.last_used_at >= LAST_USED_RESOLUTION:
        record.last_used_at = now
        db.session.commit()
    return record


def list_tokens(workspace_id: uuid.UUID | None = None) -> list[ApiToken]:
    """Newest first; every workspace's when none is given (the operator's view)."""
    query = select(ApiToken).order_by(ApiToken.created_at.desc())
    if workspace_id is not None:
        query = query.where(ApiToken.workspace_id == workspace_id)
    return list(db.session.scalars(query))


def find_token(prefix_or_id: str, workspace_id: uuid.UUID | None = None) -> ApiToken:
    """The one token with this id or prefix (within the workspace, when given)."""
    try:
        criterion = ApiToken.id == uuid.UUID(prefix_or_id)
    except ValueError:
        criterion = ApiToken.prefix == prefix_or_id
    query = select(ApiToken).where(criterion)
    if workspace_id is not None:
        query = query.where(ApiToken.workspace_id == workspace_id)
    found = list(db.session.scalars(query.limit(2)))
    if not found:
        raise AccountError(f"no API token with the id or prefix {prefix_or_id!r}")
    if len(found) > 1:
        raise AccountError(f"several API tokens start with {prefix_or_id!r}: give the id")
    return found[0]


def revoke_token(token: ApiToken, now: datetime) -> bool:
    """Revoke at once; False when it already was (revoking twice changes nothing)."""
    if token.revoked_at is not None:
        return False
    token.revoked_at = now
    db.session.commit()
    _checked.pop(token.token_hash, None)
    return True
