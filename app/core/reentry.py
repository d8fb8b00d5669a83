"""Re-enrollment rules: may a contact who has been through a sequence start it again?

Pure: the caller passes the earlier enrollment's state and `now`. Durations count in
absolute days here (a "90 days" cool-down is about dates, not local times of day).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from app.core.durations import parse_duration

FINISHED = ("completed", "exited", "failed")


@dataclass(frozen=True)
class EarlierRun:
    """The enrollment row a contact already has in the sequence."""

    status: str
    finished_at: datetime | None
    runs: int


def refusal(rule: Mapping[str, Any] | None, earlier: EarlierRun, now: datetime) -> str | None:
    """Why this contact may not enroll again now, or None when the rule allows it.

    A contact still in the sequence (active or paused) is never enrolled twice, whatever
    the rule: that is how a re-entry can never schedule the same step twice.
    """
    if earlier.status not in FINISHED:
        return f"already enrolled ({earlier.status})"
    rule = rule or {}
    mode = rule.get("mode", "never")
    if mode == "never":
        return f"already went through this sequence ({earlier.status}); re-enrollment is off"
    limit = rule.get("max_times")
    if limit is not None and earlier.runs >= limit:
        return f"already enrolled {earlier.runs} time(s); the limit is {limit}"
    if mode == "after_delay":
        allowed_at = reentry_time(rule["delay"], earlier.finished_at)
        if allowed_at is not None and now < allowed_at:
            when = f"{allowed_at:%Y-%m-%d %H:%M} UTC"
            return f"may re-enroll from {when} ({rule['delay']} after the last run)"
    return None


def reentry_time(delay: str, finished_at: datetime | None) -> datetime | None:
    """When the cool-down after the last run ends (None if the run's end is not known)."""
    if finished_at is None:
        return None
    span = parse_duration(delay)
    return finished_at + timedelta(days=span.days, seconds=span.seconds)
