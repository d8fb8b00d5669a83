"""Plain-language reasons an enrollment is waiting, for the contact timeline and support.

Each reason says what the contact waits for, in the author's terms (the step's duration,
window, weekday, field or events), then when that ends for this contact: their wall clock
and UTC ("Mon 7 Dec 09:00 America/New_York, 14:00 UTC"). Nothing here raises on a config
it does not understand: a display must not break on an odd step.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from app.core.format.values import parse_clock_time
from app.core.timing import WEEKDAY_NUMBERS, cached_duration, describe_local

DUE_NOW = "due now"
_EMAIL_EVENTS = frozenset({"opened", "clicked_link", "replied", "bounced"})
_DAY_LABELS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_DAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_NAMED_WINDOWS = {
    frozenset(range(7)): "daily",
    frozenset(range(5)): "weekday",
    frozenset({5, 6}): "weekend",
}


def describe_wait(
    step_type: str, config: Mapping[str, Any], next_at: datetime | None, zone: ZoneInfo
) -> str:
    """Why the enrollment waits and until when, e.g. "waiting 2 days: until Sun 6 Dec 15:00
    Europe/London, 15:00 UTC"; "due now" when nothing holds it (`next_at` is None)."""
    if next_at is None:
        return DUE_NOW
    when = describe_local(next_at, zone)
    try:
        if step_type == "delay":
            return _delay_reason(config, when)
        if step_type == "wait_until":
            return f"waiting for {_awaited(config.get('conditions') or [])} until {when}"
    except (KeyError, TypeError, ValueError, AttributeError):
        pass
    return f"waiting until {when}"


def describe_zone_fallback(rejected: tuple[str, ...], used: ZoneInfo) -> str | None:
    """ "time zone 'EST' is not valid; used America/New_York", or None when no zone was
    refused: tells the author why a contact's times are not in the zone they typed."""
    if not rejected:
        return None
    names = _join([repr(name) for name in rejected], "and")
    noun, verb = ("time zone", "is") if len(rejected) == 1 else ("time zones", "are")
    return f"{noun} {names} {verb} not valid; used {getattr(used, 'key', None) or used}"


def _delay_reason(config: Mapping[str, Any], when: str) -> str:
    until = config.get("until")
    zone_note = _zone_note(config.get("timezone"))
    if until == "weekday":
        day = _DAY_NAMES[WEEKDAY_NUMBERS[str(config["weekday"]).strip().lower()[:3]]]
        clock = parse_clock_time(str(config["time"])).strftime("%H:%M")
        return f"waiting until {day} {clock}{zone_note}: {when}"
    if until == "datetime":
        return f"waiting until {_written_datetime(str(config['at']))}{zone_note}: {when}"
    if until == "field":
        offset = str(config.get("offset") or "").strip()
        target = f"{config['field']} {offset}" if offset else str(config["field"])
        return f"waiting until {target}{zone_note}: {when}"
    window = config.get("window")
    if window:
        return f"waiting for the {_window_name(window)}: {when}"
    return f"waiting {_duration_text(str(config['duration']))}: until {when}"


def _zone_note(name: Any) -> str:
    return f" {name}" if isinstance(name, str) and name and name != "recipient" else ""


def _written_datetime(text: str) -> str:
    """'2026-12-01T09:00:00' as '1 Dec 2026 09:00' (with its UTC offset when it has one)."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        return text
    written = f"{moment.day} {_MONTHS[moment.month - 1]} {moment.year} {moment:%H:%M}"
    offset = moment.utcoffset()
    if offset is None:
        return written
    minutes = int(offset.total_seconds()) // 60
    if not minutes:
        return f"{written} UTC"
    sign = "+" if minutes > 0 else "-"
    hours, minutes = divmod(abs(minutes), 60)
    return f"{written} UTC{sign}{hours:02d}:{minutes:02d}"


def _window_name(window: Mapping[str, Any]) -> str:
    """'weekday window' for Mon-Fri, 'weekend', 'daily', else its days: 'Mon, Wed and Fri
    window'; with the window's own zone when it is not the recipient's."""
    weekdays = window.get("weekdays")
    days = (
        frozenset(range(7))
        if weekdays is None
        else frozenset(WEEKDAY_NUMBERS[str(day).strip().lower()[:3]] for day in weekdays)
    )
    name = _NAMED_WINDOWS.get(days) or _join([_DAY_LABELS[day] for day in sorted(days)], "and")
    zone = _zone_note(window.get("timezone")).strip()
    return f"{name} window ({zone})" if zone else f"{name} window"


def _duration_text(text: str) -> str:
    """The duration as the author wrote it; ISO 8601 ('P2D') spelled out ('2 days')."""
    cleaned = text.strip()
    parsed = cached_duration(cleaned)  # refuses text that is not a duration
    return str(parsed) if cleaned.lower().startswith("p") else cleaned


def _awaited(conditions: Iterable[Mapping[str, Any]]) -> str:
    """'user_login or a change to company_size': what any condition of a wait listens for."""
    parts = [_condition_text(condition) for condition in conditions]
    return _join(parts, "or") if parts else "its conditions"


def _condition_text(condition: Mapping[str, Any]) -> str:
    event = condition.get("event")
    if event is None:
        return f"a change to {condition['field']}"
    if event not in _EMAIL_EVENTS:
        return str(event)
    text = f"{event} on {condition.get('email_step_id')}"
    link = condition.get("link_url_contains")
    return f"{text} (link containing {link})" if event == "clicked_link" and link else text


def _join(parts: list[str], word: str) -> str:
    """'a', 'a or b', 'a, b or c'."""
    if len(parts) <= 1:
        return "".join(parts)
    return f"{', '.join(parts[:-1])} {word} {parts[-1]}"
