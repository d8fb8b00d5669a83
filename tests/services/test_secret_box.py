"""Secrets at rest: sealed text never shows the secret, opens with the same key only."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet

from app.services.secret_box import SecretUnreadable, seal, unseal


def test_a_sealed_secret_hides_it_and_opens_back(app):
    sealed = seal("app-password-123")
    assert "app-password-123" not in sealed
    assert unseal(sealed) == "app-password-123"


def test_a_secret_sealed_under_another_key_is_refused_with_a_clear_error(app):
    sealed = seal("hunter2")
    app.config["ENCRYPTION_KEY"] = Fernet.generate_key().decode()
    with pytest.raises(SecretUnreadable, match="enter it again"):
        unseal(sealed)
    assert unseal(seal("hunter2")) == "hunter2"
