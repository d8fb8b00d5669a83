"""Identities that outlive a send: stable Message-IDs and signed unsubscribe tokens."""

from __future__ import annotations

import uuid

from itsdangerous import BadSignature, URLSafeSerializer

from app.config import current_settings

_UNSUBSCRIBE_SALT = "penguinmails.unsubscribe"


def sender_domain() -> str:
    """The domain our Message-IDs live under: the default sender's."""
    return current_settings().default_from_email.rpartition("@")[2] or "localhost"


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_settings().secret_key, salt=_UNSUBSCRIBE_SALT)


def unsubscribe_token(message_uuid: uuid.UUID) -> str:
    return str(_serializer().dumps(message_uuid.hex))


def read_unsubscribe_token(token: str) -> uuid.UUID | None:
    """The message a token was issued for; None for anything we did not sign."""
    try:
        return uuid.UUID(hex=_serializer().loads(token))
    except (BadSignature, ValueError, TypeError):
        return None


def unsubscribe_url(message_uuid: uuid.UUID) -> str:
    return f"{current_settings().base_url}/u/{unsubscribe_token(message_uuid)}"
