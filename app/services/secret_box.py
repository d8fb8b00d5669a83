"""Secrets stored in the database (mailbox passwords, provider signing keys), sealed with
Fernet (AES-128-CBC + HMAC-SHA256) under `ENCRYPTION_KEY`, or under a key derived from
`SECRET_KEY` with HKDF when none is set. A database dump alone reveals none of them."""

from __future__ import annotations

import base64

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from app.config import current_settings

_SALT = b"penguinmails/secret-box/v1"


class SecretUnreadable(Exception):
    """A sealed secret that the current key cannot open (the key changed): enter it again."""


def seal(plain: str) -> str:
    return _fernet().encrypt(plain.encode()).decode()


def unseal(token: str) -> str:
    try:
        return _fernet().decrypt(token.encode()).decode()
    except InvalidToken:
        raise SecretUnreadable(
            "a stored secret cannot be read with the current ENCRYPTION_KEY/SECRET_KEY; "
            "enter it again"
        ) from None


def _fernet() -> Fernet:
    settings = current_settings()
    if settings.encryption_key:
        return Fernet(settings.encryption_key.encode())
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=_SALT, info=b"secrets").derive(
        settings.secret_key.encode()
    )
    return Fernet(base64.urlsafe_b64encode(derived))
