"""Plain-language reasons an enrollment is waiting, for the contact timeline and support.

Each reason says what the contact waits for, in the author's terms (the step's duration,
window, weekday, field or events), then when that ends for this contact: their wall clock
and UTC ("Mon 7 Dec 09:00 America/New_York, 14:00 UTC"). Nothing here raises on a config
it does not understand: a display must not break on an odd step.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from app.core.steps import kind_of
from app.core.timing import describe_local
from app.core.wording import join_words

DUE_NOW = "due now"


def describe_wait(
    step_type: str, config: Mapping[str, Any], next_at: datetime | None, zone: ZoneInfo
) -> str:
    """Why the enrollment waits and until when, e.g. "waiting 2 days: until Sun 6 Dec 15:00
    Europe/London, 15:00 UTC"; "due now" when nothing holds it (`next_at` is None)."""
    if next_at is None:
        return DUE_NOW
    when = describe_local(next_at, zone)
    kind = kind_of(step_type)
    if kind is not None and kind.waiting_text is not None:
        try:
            return kind.waiting_text(config, when)
        except (KeyError, TypeError, ValueError, AttributeError):
            pass
    return f"waiting until {when}"


def describe_zone_fallback(rejected: tuple[str, ...], used: ZoneInfo) -> str | None:
    """ "time zone 'EST' is not valid; used America/New_York", or None when no zone was
    refused: tells the author why a contact's times are not in the zone they typed."""
    if not rejected:
        return None
    names = join_words([repr(name) for name in rejected], "and")
    noun, verb = ("time zone", "is") if len(rejected) == 1 else ("time zones", "are")
    return f"{noun} {names} {verb} not valid; used {getattr(used, 'key', None) or used}"
