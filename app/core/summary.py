"""One line per step for the canvas card: what the step does, in the author's words."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from app.core.steps import kind_of


def step_summary(step_type: str, config: Mapping[str, Any]) -> str:
    """A short description of a step's settings; unfinished settings give a hint instead."""
    kind = kind_of(step_type)
    try:
        return kind.summary(config) if kind else ""
    except (KeyError, TypeError, AttributeError):
        return "Not set up yet"
