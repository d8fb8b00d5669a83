"""Who is asking, on the public endpoints, without storing who it is."""

from __future__ import annotations

import hashlib

from app.config import current_settings


def client_hash(ip: str, user_agent: str | None = None) -> str:
    """sha256 of the client's address (and user agent, when given) salted with the app's
    secret: comparable between requests, not reversible to the address."""
    salt = current_settings().secret_key
    text = f"{salt}:{ip}" if user_agent is None else f"{salt}:{ip}\n{user_agent}"
    return hashlib.sha256(text.encode()).hexdigest()
