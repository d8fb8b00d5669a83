"""Frequency caps: at most N emails per contact per day and per week, across every
sequence of the workspace (`workspaces.frequency_cap = {"per_day": n, "per_week": m}`).

Days and weeks are the contact's calendar days and weeks (Monday to Sunday) in their own
time zone, so "1 per day" means one per local day whatever the hour. An email over the cap
is not dropped: its step waits until the day (or week) that has room, and the enrollment
says why. Pure: the emails already counted come in, the room left goes out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from app.core.timing import local_to_utc

CAP_MAX = 1000
"""The largest cap accepted per day or week."""


@dataclass(frozen=True)
class Allowance:
    """How many more emails the contact may get now, and when the tighter limit opens
    again (and why it holds) once they are used up."""

    room: int
    reopens_at: datetime | None = None
    reason: str | None = None


def parse_cap(raw: Any) -> dict[str, int] | None:
    """A stored or submitted cap, checked: {"per_day": 1..CAP_MAX, "per_week": ...}, either
    optional; None when neither is set. ValueError names the field."""
    if raw in (None, {}):
        return None
    if not isinstance(raw, Mapping):
        raise ValueError("frequency_cap must be an object with per_day and/or per_week")
    cap: dict[str, int] = {}
    for key in raw:
        if key not in ("per_day", "per_week"):
            raise ValueError(f"frequency_cap.{key}: unknown key; use per_day or per_week")
        value = raw[key]
        if value is None:
            continue
        if type(value) is not int or not 1 <= value <= CAP_MAX:
            raise ValueError(f"frequency_cap.{key} must be a whole number from 1 to {CAP_MAX}")
        cap[key] = value
    return cap or None


def allowance(
    cap: Mapping[str, int], counted: Iterable[datetime], now: datetime, zone: ZoneInfo
) -> Allowance:
    """The room left at `now` for a contact in `zone` who got emails at `counted` instants."""
    local_now = now.astimezone(zone)
    today = local_now.date()
    week_start = today - timedelta(days=today.weekday())
    days = [moment.astimezone(zone).date() for moment in counted]
    rooms: list[tuple[int, datetime, str]] = []
    if "per_day" in cap:
        used = sum(1 for day in days if day == today)
        tomorrow = local_to_utc(
            datetime.combine(today + timedelta(days=1), datetime.min.time()), zone
        )
        rooms.append((cap["per_day"] - used, tomorrow, f"{cap['per_day']} per day"))
    if "per_week" in cap:
        used = sum(1 for day in days if day >= week_start)
        monday = local_to_utc(
            datetime.combine(week_start + timedelta(days=7), datetime.min.time()), zone
        )
        rooms.append((cap["per_week"] - used, monday, f"{cap['per_week']} per week"))
    if not rooms:
        return Allowance(room=CAP_MAX)
    full = [(reopens, what) for room, reopens, what in rooms if room <= 0]
    if full:
        reopens, what = max(full)
        return Allowance(0, reopens, _reason(what))
    room, reopens, what = min(rooms)  # the tighter limit: when room runs out in this pass
    return Allowance(room, reopens, _reason(what))


def _reason(what: str) -> str:
    return f"held by the workspace's frequency cap ({what})"
