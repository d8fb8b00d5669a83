"""When a waiting step is due, computed from given instants in the recipient's time zone.

Nothing here reads the clock or the server's time zone: every instant is passed in, aware,
and every result is an aware UTC datetime, so the engine and its tests agree everywhere.

Days and weeks are calendar days: they keep the local time of day across daylight-saving
changes (2 days after Friday 15:00 is Sunday 15:00 local). Minutes, hours and seconds are
absolute. A local time that does not exist (spring forward) is pushed forward by the gap;
an ambiguous one (fall back) takes its first occurrence, so each resolves to one instant.

Delivery windows (`{"weekdays": [...], "start": "09:00", "end": "17:00", "timezone": ...}`)
are half-open ranges of wall-clock time, [start, end), on the listed weekdays (all when
left out), in the window's own zone or the recipient's. A window opens at the first instant
whose wall-clock time is inside it: when its start falls in a spring-forward gap that is the
end of the gap (start 02:30 on 8 March 2026 in New York opens at 03:00 EDT); when its start
occurs twice (fall back) it opens at the first occurrence. A window whose hours a gap skips
entirely does not open that day. `if_window_missed` is the engine's business: it applies
when the contact is processed after the window it was due in has closed.

Delays until a point in time (`until: weekday | datetime | field`) resolve that local time
with the same rule as durations (gaps pushed forward, first occurrence of ambiguous times).

**The past rule**: when the target of an `until` delay is not after the moment the contact
entered the step (a date already gone, a field date minus its offset already passed), or the
contact field it reads is missing, empty or not a date, the wait is skipped: `delay_due`
returns `entered_at` and the contact moves on at once. A weekday target is never in the past:
it is the next such weekday at that time.

**The far-future rule**: a target after the year `limits.YEAR_MAX` (`9999-12-31`, a typo or
a sentinel) is not a date to wait for, and treating it as unreadable would send the next
email at once: `delay_due` raises `TargetOutOfRange` and the engine fails the enrollment.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from app.core import limits
from app.core import variables as sequence_vars
from app.core.durations import Duration, parse_duration, parse_signed_duration
from app.core.format.values import parse_clock_time

cached_duration = lru_cache(maxsize=4096)(parse_duration)
cached_offset = lru_cache(maxsize=4096)(parse_signed_duration)

WEEKDAY_NUMBERS = {"mon": 0, "tue": 1, "wed": 2, "thu": 3, "fri": 4, "sat": 5, "sun": 6}
"""Weekday numbers (Monday = 0) by their first three letters: 'mon' and 'monday' alike."""
_ALL_WEEKDAYS = frozenset(range(7))
_SEARCH_DAYS = 17
"""Dates scanned for a window opening: a week, plus a week more in case a DST gap swallows
the only open day, plus the day before (wall time can go back past midnight) and slack."""
_SAMPLE = timedelta(hours=6)
"""Spacing of the offset samples that locate DST transitions (no zone has two within 6 hours)."""
_DAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTH_NAMES = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_UTC_NAMES = frozenset(
    {"UTC", "Etc/UTC", "Etc/UCT", "UCT", "Etc/Universal", "Universal", "Etc/Zulu", "Zulu"}
)


class TargetOutOfRange(ValueError):
    """An `until` target later than any date a sequence may wait for (see the far-future
    rule); the message names the value."""


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


def zone_choice(name: str | None, recipient: ZoneInfo) -> ZoneInfo:
    """A config's `timezone`: an IANA name, else ("recipient", absent) the contact's zone."""
    if name is None or name == "recipient":
        return recipient
    return load_zone(name) or recipient


def local_to_utc(naive_local: datetime, zone: ZoneInfo) -> datetime:
    """Resolve a wall-clock time to one instant: gaps move forward, folds take the first.

    With fold=0, zoneinfo applies the offset in force before a transition: a time inside a
    spring-forward gap lands after it by the gap's length, an ambiguous time is its first pass.
    """
    return naive_local.replace(tzinfo=zone, fold=0).astimezone(UTC)


def add_duration(start: datetime, duration: Duration, zone: ZoneInfo) -> datetime:
    """`start` plus business days then calendar days in `zone` (the local time of day
    kept), then plus absolute seconds."""
    # In UTC: adding a timedelta to a ZoneInfo-aware datetime is wall-clock arithmetic.
    moment = start.astimezone(UTC)
    if duration.days or duration.business_days:
        local = start.astimezone(zone).replace(tzinfo=None)
        local = _business_days_from(local, duration.business_days, 1)
        moment = local_to_utc(local + timedelta(days=duration.days), zone)
    return (moment + timedelta(seconds=duration.seconds)).astimezone(UTC)


def subtract_duration(start: datetime, duration: Duration, zone: ZoneInfo) -> datetime:
    """`start` minus business days and calendar days in `zone`, then minus absolute
    seconds (mirrors add)."""
    moment = start.astimezone(UTC)
    if duration.days or duration.business_days:
        local = start.astimezone(zone).replace(tzinfo=None)
        local = _business_days_from(local, duration.business_days, -1)
        moment = local_to_utc(local - timedelta(days=duration.days), zone)
    return (moment - timedelta(seconds=duration.seconds)).astimezone(UTC)


def _business_days_from(local: datetime, count: int, step: int) -> datetime:
    """The wall-clock time `count` weekdays (Monday to Friday) after (step 1) or before
    (-1) `local`, at the same time of day: 3 business days after Friday 10:00 is Wednesday
    10:00; 1 after Saturday is Monday. Whole weeks are jumped at once, so the loop is short."""
    if count == 0:
        return local
    if local.weekday() >= 5:  # a weekend start counts from the Friday before (or Monday after)
        local += timedelta(days=(4 - local.weekday()) if step > 0 else (7 - local.weekday()))
    weeks, rest = divmod(count, 5)
    local += timedelta(days=7 * weeks * step)
    while rest:
        local += timedelta(days=step)
        if local.weekday() < 5:
            rest -= 1
    return local


# --- Delivery windows --------------------------------------------------------------------------


@lru_cache(maxsize=1024)
def _window_hours(
    start: str, end: str, weekdays: tuple[str, ...] | None
) -> tuple[frozenset[int], time, time]:
    """Parsed once per distinct window: (weekday numbers, start, end)."""
    days = _ALL_WEEKDAYS if weekdays is None else frozenset(weekday_number(d) for d in weekdays)
    return days, parse_clock_time(start), parse_clock_time(end)


def _window_spec(window: Mapping[str, Any]) -> tuple[frozenset[int], time, time]:
    weekdays = window.get("weekdays")
    return _window_hours(
        window["start"], window["end"], None if weekdays is None else tuple(weekdays)
    )


def weekday_number(name: str) -> int:
    """0 for 'mon' or 'Monday', ... 6 for 'sun'."""
    try:
        return WEEKDAY_NUMBERS[name.strip().lower()[:3]]
    except KeyError:
        raise ValueError(f"{name!r} is not a weekday such as 'mon' or 'monday'") from None


def in_window(moment: datetime, window: Mapping[str, Any], zone: ZoneInfo) -> bool:
    """Whether `moment`'s wall-clock time in the window's zone is on an open weekday and in
    [start, end): the test the engine applies before letting a windowed delay through."""
    days, start, end = _window_spec(window)
    local = _aware(moment).astimezone(zone_choice(window.get("timezone"), zone))
    return local.weekday() in days and start <= local.time() < end


def next_window_open(earliest: datetime, window: Mapping[str, Any], zone: ZoneInfo) -> datetime:
    """The first instant at or after `earliest` inside the window (`earliest` itself, in UTC,
    when it already is). Found among the instants where the window can open: each
    occurrence of its start time, and each DST transition (a jump over or back into it)."""
    earliest = _aware(earliest).astimezone(UTC)
    if in_window(earliest, window, zone):
        return earliest
    days, start, _ = _window_spec(window)
    window_zone = zone_choice(window.get("timezone"), zone)
    first_day = earliest.astimezone(window_zone).date() - timedelta(days=1)
    best: datetime | None = None
    for ahead in range(_SEARCH_DAYS):
        day = first_day + timedelta(days=ahead)
        if best is not None and best.astimezone(window_zone).date() < day - timedelta(days=1):
            break  # a later day's start comes later, even past a fall back over midnight
        if day.weekday() in days:
            for instant in _occurrences(datetime.combine(day, start), window_zone):
                if instant >= earliest and in_window(instant, window, zone):
                    best = instant if best is None else min(best, instant)
    # A DST jump can open the window earlier than its start time does (or, in a gap, at all).
    horizon = best or earliest + timedelta(days=_SEARCH_DAYS)
    jumps = (c for c in _transitions(earliest, horizon, window_zone) if in_window(c, window, zone))
    best = min(jumps, default=best)
    if best is None:  # only a window that gaps swallow every time, which no real zone has
        raise ValueError(f"the window never opens within {_SEARCH_DAYS} days")
    return best


def _occurrences(naive: datetime, zone: ZoneInfo) -> set[datetime]:
    """Every instant at which the wall clock in `zone` shows `naive` (none in a gap, two in a
    fold)."""
    found = set()
    for fold in (0, 1):
        instant = naive.replace(tzinfo=zone, fold=fold).astimezone(UTC)
        if instant.astimezone(zone).replace(tzinfo=None) == naive:
            found.add(instant)
    return found


def _transitions(start: datetime, stop: datetime, zone: ZoneInfo) -> list[datetime]:
    """Instants in [start, stop] where `zone`'s UTC offset changes, to the second."""
    found = []
    before = start
    offset = start.astimezone(zone).utcoffset()
    while before < stop:
        after = min(before + _SAMPLE, stop)
        if after.astimezone(zone).utcoffset() != offset:
            found.append(_first_change(before, after, zone, offset))
            offset = after.astimezone(zone).utcoffset()
        before = after
    return found


def _first_change(low: datetime, high: datetime, zone: ZoneInfo, offset: Any) -> datetime:
    """The first whole second in (low, high] whose offset differs from `offset` (binary search)."""
    low_s, high_s = int(low.timestamp()), int(high.timestamp()) + 1
    while high_s - low_s > 1:
        middle = (low_s + high_s) // 2
        if datetime.fromtimestamp(middle, UTC).astimezone(zone).utcoffset() == offset:
            low_s = middle
        else:
            high_s = middle
    return datetime.fromtimestamp(high_s, UTC)


# --- When a delay is due -----------------------------------------------------------------------


def delay_due(
    config: Mapping[str, Any],
    entered_at: datetime,
    zone: ZoneInfo,
    fields: Mapping[str, Any] | None = None,
    context: Mapping[str, Any] | None = None,
    variables: Mapping[str, sequence_vars.SequenceVariable] | None = None,
) -> datetime:
    """When a `delay` step entered at `entered_at` lets the contact move on (UTC).

    `fields` are the contact's fields and `context` the enrollment's (its `trigger`), read by
    `until: field`; `variables` are the sequence's, read by `field: sequence.<name>`. A
    target not after `entered_at`, or a missing field, gives `entered_at` (see the module's
    past rule).
    """
    entered = _aware(entered_at).astimezone(UTC)
    until = config.get("until")
    if until is None:
        due = add_duration(entered, cached_duration(config["duration"]), zone)
        window = config.get("window")
        return next_window_open(due, window, zone) if window else due
    target_zone = zone_choice(config.get("timezone"), zone)
    if until == "weekday":
        return next_weekday_at(entered, config["weekday"], config["time"], target_zone)
    if until == "datetime":
        target = parse_instant(config.get("at"), target_zone)
    elif until == "field":
        target = field_target(config, fields, context, target_zone, variables)
    else:
        raise ValueError(f"unknown 'until' value {until!r}")
    return target if target is not None and target > entered else entered


def next_weekday_at(after: datetime, weekday: str, clock: str, zone: ZoneInfo) -> datetime:
    """The first `weekday` at local `clock` strictly after `after` (today if still ahead)."""
    after = _aware(after).astimezone(UTC)
    target, at = weekday_number(weekday), parse_clock_time(clock)
    today = after.astimezone(zone).date()
    for ahead in range(9):
        day = today + timedelta(days=ahead)
        if day.weekday() == target:
            candidate = local_to_utc(datetime.combine(day, at), zone)
            if candidate > after:
                return candidate
    raise AssertionError("unreachable: a weekday recurs within 8 days")


def field_target(
    config: Mapping[str, Any],
    fields: Mapping[str, Any] | None,
    context: Mapping[str, Any] | None,
    zone: ZoneInfo,
    variables: Mapping[str, sequence_vars.SequenceVariable] | None = None,
) -> datetime | None:
    """The instant an `until: field` delay aims at: the field's date plus its offset, or None
    when the value is missing or not a date. The contact's own field wins over the trigger
    event's property of the same name. `sequence.<name>` reads the sequence's date-time
    variable instead, one instant for everyone; its offset is counted in the variable's
    own zone (unless the delay names a `timezone`), so "1 day before" a webinar at 17:00
    Paris time is 17:00 Paris time the day before, whatever the season."""
    name = sequence_vars.variable_name(config["field"])
    if name is None:
        value = field_value(config["field"], fields, context)
        instant = parse_instant(value, zone)
    else:
        variable = (variables or {}).get(name)
        value = variable.value if variable else None
        instant = variable.instant if variable else None
        if variable is not None and config.get("timezone") is None:
            zone = variable.zone
    offset = config.get("offset")
    if instant is None or not offset:
        return instant
    sign, magnitude = cached_offset(offset)
    try:
        if sign < 0:
            return subtract_duration(instant, magnitude, zone)
        shifted = add_duration(instant, magnitude, zone)
    except OverflowError:
        return None
    if shifted.year > limits.YEAR_MAX:
        raise TargetOutOfRange(
            f"the date {value!r} shifted by {offset!r} is after the year {limits.YEAR_MAX}"
        )
    return shifted


def field_value(
    name: str, fields: Mapping[str, Any] | None, context: Mapping[str, Any] | None
) -> Any:
    """`fields[name]`, else the triggering event's `properties[name]`; None/"" count as absent."""
    value = (fields or {}).get(name)
    if value is None or value == "":
        trigger = (context or {}).get("trigger")
        properties = trigger.get("properties") if isinstance(trigger, Mapping) else None
        value = properties.get(name) if isinstance(properties, Mapping) else None
    return None if value == "" else value


def parse_instant(value: Any, zone: ZoneInfo) -> datetime | None:
    """An ISO 8601 date-time (or date: 00:00) as a UTC instant; a value without an offset is
    local time in `zone`. None when it is not one (or lies before year 1 in UTC);
    TargetOutOfRange when it is after the year `limits.YEAR_MAX`."""
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, date):
        parsed = datetime.combine(value, time())
    elif isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.strip())
        except ValueError:
            return None
    else:
        return None
    if parsed.year > limits.YEAR_MAX:
        raise TargetOutOfRange(f"the date {value!r} is after the year {limits.YEAR_MAX}")
    try:
        if parsed.tzinfo is None:
            return local_to_utc(parsed, zone)
        return parsed.astimezone(UTC)
    except OverflowError:
        return None


# --- Words --------------------------------------------------------------------------------------


def describe_local(moment: datetime, zone: ZoneInfo) -> str:
    """ "Mon 7 Dec 09:00 America/New_York, 14:00 UTC": the contact's wall clock first, then UTC
    (with its own date when that differs), so support staff and the contact agree."""
    utc = _aware(moment).astimezone(UTC)
    name = getattr(zone, "key", None) or str(zone)
    if name in _UTC_NAMES or zone is UTC:
        return f"{_day_text(utc)} {utc:%H:%M} UTC"
    local = utc.astimezone(zone)
    utc_day = "" if utc.date() == local.date() else f"{_day_text(utc)} "
    return f"{_day_text(local)} {local:%H:%M} {name}, {utc_day}{utc:%H:%M} UTC"


def _day_text(moment: datetime) -> str:
    """'Mon 7 Dec', spelled here rather than with %a/%b, which follow the process locale."""
    return f"{_DAY_NAMES[moment.weekday()]} {moment.day} {_MONTH_NAMES[moment.month - 1]}"


def _aware(moment: datetime) -> datetime:
    """Refuse naive datetimes: converting one would use the server's own time zone."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{moment!r} has no time zone; pass an aware datetime")
    return moment
