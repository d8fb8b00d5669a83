"""When a waiting step is due, computed from a given `now` in the recipient's time zone.

Days and weeks are calendar days: they keep the local time of day across daylight-saving
changes (2 days after Friday 15:00 is Sunday 15:00 local). Minutes, hours and seconds are
absolute. A local time that does not exist (spring forward) is pushed forward by the gap;
an ambiguous one (fall back) takes its first occurrence, so each resolves to one instant.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from app.core.durations import Duration, parse_duration

cached_duration = lru_cache(maxsize=4096)(parse_duration)


@dataclass(frozen=True)
class ResolvedZone:
    """The zone used for a contact, and which candidate was refused on the way (if any)."""

    zone: ZoneInfo
    rejected: tuple[str, ...] = ()


def load_zone(name: str | None) -> ZoneInfo | None:
    """A ZoneInfo for a valid IANA name, else None (never raises on user data)."""
    if not name or not isinstance(name, str):
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return None


def resolve_zone(*candidates: str | None) -> ResolvedZone:
    """First valid zone among contact, sequence and workspace zones; UTC as the last resort."""
    rejected: list[str] = []
    for name in candidates:
        zone = load_zone(name)
        if zone is not None:
            return ResolvedZone(zone, tuple(rejected))
        if name:
            rejected.append(name)
    return ResolvedZone(ZoneInfo("UTC"), tuple(rejected))


def local_to_utc(naive_local: datetime, zone: ZoneInfo) -> datetime:
    """Resolve a wall-clock time to one instant: gaps move forward, folds take the first.

    With fold=0, zoneinfo applies the offset in force before a transition: a time inside a
    spring-forward gap lands after it by the gap's length, an ambiguous time is its first pass.
    """
    return naive_local.replace(tzinfo=zone, fold=0).astimezone(UTC)


def add_duration(start: datetime, duration: Duration, zone: ZoneInfo) -> datetime:
    """`start` plus calendar days in `zone`, then plus absolute seconds."""
    # In UTC: adding a timedelta to a ZoneInfo-aware datetime is wall-clock arithmetic.
    moment = start.astimezone(UTC)
    if duration.days:
        local = start.astimezone(zone).replace(tzinfo=None)
        moment = local_to_utc(local + timedelta(days=duration.days), zone)
    return (moment + timedelta(seconds=duration.seconds)).astimezone(UTC)


def delay_due(config: Mapping[str, Any], entered_at: datetime, zone: ZoneInfo) -> datetime:
    """When a `delay` step entered at `entered_at` lets the contact move on."""
    return add_duration(entered_at, cached_duration(config["duration"]), zone)
