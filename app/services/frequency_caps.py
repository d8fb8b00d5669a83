"""A workspace's frequency cap (at most N emails per contact per day and per week, across
every sequence): setting it. The processor applies it (app/core/frequency.py)."""

from __future__ import annotations

from typing import Any

from app.core.frequency import parse_cap
from app.extensions import db
from app.models import Workspace


def set_frequency_cap(workspace: Workspace, raw: Any) -> dict[str, int] | None:
    """Store the cap (None clears it); ValueError names the bad field, nothing stored."""
    cap = parse_cap(raw)
    workspace.frequency_cap = cap
    db.session.commit()
    return cap
