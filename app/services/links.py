"""Identities that outlive a send: stable Message-IDs and signed unsubscribe tokens."""

from __future__ import annotations

import uuid
from functools import lru_cache
from typing import Any

from itsdangerous import BadSignature, Serializer, URLSafeSerializer
from itsdangerous.encoding import base64_encode

from app.config import current_settings

_UNSUBSCRIBE_SALT = "penguinmails.unsubscribe"


def sender_domain() -> str:
    """The domain our Message-IDs live under: the default sender's."""
    return current_settings().default_from_email.rpartition("@")[2] or "localhost"


class _UncompressedSerializer(URLSafeSerializer):
    """URL-safe tokens written without trying zlib first: their payloads (a message id, a
    link position) are too short to shrink, and the attempt was a tenth of a send's CPU
    time. Reads both forms, so tokens already sent stay valid."""

    def dump_payload(self, obj: Any) -> bytes:
        return base64_encode(Serializer.dump_payload(self, obj))


@lru_cache(maxsize=32)
def token_serializer(secret_key: str, salt: str) -> URLSafeSerializer:
    """The signer of one kind of link token (made once, not per link)."""
    return _UncompressedSerializer(secret_key, salt=salt)


def _serializer() -> URLSafeSerializer:
    return token_serializer(current_settings().secret_key, _UNSUBSCRIBE_SALT)


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
