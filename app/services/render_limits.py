"""The render budget the operator configured, in the form `render_email` takes."""

from __future__ import annotations

from typing import TypedDict

from flask import current_app

from app.mail.rendering import DEFAULT_MAX_BYTES, DEFAULT_TIMEOUT_SECONDS


class RenderLimits(TypedDict):
    timeout_seconds: float
    max_bytes: int


def render_limits() -> RenderLimits:
    """RENDER_TIMEOUT_SECONDS and RENDER_MAX_BYTES, so send, test send, preview and the
    save check all stop a template at the same point."""
    config = current_app.config
    return RenderLimits(
        timeout_seconds=float(config.get("RENDER_TIMEOUT_SECONDS", DEFAULT_TIMEOUT_SECONDS)),
        max_bytes=int(config.get("RENDER_MAX_BYTES", DEFAULT_MAX_BYTES)),
    )
