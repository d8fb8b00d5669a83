"""The render budget the operator configured, in the form `render_email` takes."""

from __future__ import annotations

from typing import TypedDict

from app.config import current_settings


class RenderLimits(TypedDict):
    timeout_seconds: float
    max_bytes: int


def render_limits() -> RenderLimits:
    """RENDER_TIMEOUT_SECONDS and RENDER_MAX_BYTES, so send, test send, preview and the
    save check all stop a template at the same point."""
    settings = current_settings()
    return RenderLimits(
        timeout_seconds=settings.render_timeout_seconds, max_bytes=settings.render_max_bytes
    )
