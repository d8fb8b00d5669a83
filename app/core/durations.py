"""Durations as written in sequence definitions ("2 days", "PT4H").

Days and weeks are kept apart from hours, minutes and seconds because they mean
different things to a scheduler: "1 day" keeps the local time of day across a
daylight-saving change, while "24 hours" is exactly 86,400 seconds.
"""

import re
from dataclasses import dataclass

MAX_DAYS = 3650
"""Longest accepted duration (about ten years), so later date arithmetic cannot overflow."""

_EXAMPLES = "such as '2 days' or 'PT4H'"
_DAY_UNITS = {"day": 1, "week": 7}
_SECOND_UNITS = {"second": 1, "minute": 60, "hour": 3600}
_ALIASES = {
    "sec": "second",
    "secs": "second",
    "min": "minute",
    "mins": "minute",
    "hr": "hour",
    "hrs": "hour",
}
_AMBIGUOUS_UNITS = {"month", "months", "mo", "year", "years", "yr", "yrs"}
_HUMAN_PART = re.compile(r"(\d+)\s*([a-z]+)")
_BUSINESS = re.compile(r"\b(?:business|working)\s+days?\b|\bweekdays?\b")
"""Spellings of a business day, read as the one-word unit "bday" before parsing."""
_HUMAN = re.compile(r"\d+\s*[a-z]+(?:\s*(?:,|\band\b)?\s*\d+\s*[a-z]+)*")
_ISO = re.compile(
    r"p(?:(?P<weeks>\d+)w)?(?:(?P<days>\d+)d)?"
    r"(?:t(?=\d)(?:(?P<hours>\d+)h)?(?:(?P<minutes>\d+)m)?(?:(?P<seconds>\d+)s)?)?"
)


@dataclass(frozen=True)
class Duration:
    """A non-negative span: ``business_days`` (Monday to Friday, counted in the recipient's
    zone), calendar ``days``, then absolute ``seconds``."""

    days: int = 0
    seconds: int = 0
    business_days: int = 0

    def __post_init__(self) -> None:
        if self.days < 0 or self.seconds < 0 or self.business_days < 0:
            raise ValueError("a duration cannot be negative")

    def total_seconds_nominal(self) -> int:
        """Length counting each day as 86,400 seconds (a business day as 7/5 of one): for
        sorting and analytics, not scheduling."""
        return (self.days + self.business_days * 7 // 5) * 86400 + self.seconds

    def __str__(self) -> str:
        hours, rest = divmod(self.seconds, 3600)
        minutes, seconds = divmod(rest, 60)
        counts = (
            (self.business_days, "business day"),
            (self.days, "day"),
            (hours, "hour"),
            (minutes, "minute"),
            (seconds, "second"),
        )
        parts = [_plural(count, unit) for count, unit in counts if count]
        return " ".join(parts) or "0 minutes"


def parse_duration(text: str) -> Duration:
    """Parse "2 days", "1 day 2 hours", "90 minutes" or ISO 8601 ("P1DT2H30M").

    Months and years are rejected because their length varies; negative values are
    rejected too (use :func:`parse_signed_duration` for offsets such as "-1 day").
    """
    if text.strip().startswith("-"):
        raise ValueError(f"{text!r} is negative; a duration cannot be negative")
    return _parse(text, text.strip())


def parse_signed_duration(text: str) -> tuple[int, Duration]:
    """Parse an offset such as "-1 day" or "+2 hours" into (sign, magnitude).

    Offsets position a moment relative to a date held in a contact field
    (one day *before* a webinar), so unlike plain durations they may be negative.
    """
    stripped = text.strip()
    sign = -1 if stripped.startswith("-") else 1
    return sign, _parse(text, stripped[1:] if stripped[:1] in ("-", "+") else stripped)


def _parse(text: str, body: str) -> Duration:
    """Parse the unsigned `body`; errors quote `text`, what the author actually wrote."""
    cleaned = body.strip().lower()
    if not cleaned:
        raise ValueError(f"a duration is required, {_EXAMPLES}")
    duration = _parse_iso(text, cleaned) if cleaned.startswith("p") else _parse_human(text, cleaned)
    if duration.total_seconds_nominal() > MAX_DAYS * 86400:
        raise ValueError(f"{text!r} is too long; the longest duration is {MAX_DAYS} days")
    return duration


def _parse_human(text: str, cleaned: str) -> Duration:
    cleaned = _BUSINESS.sub("bday", cleaned)
    if _HUMAN.fullmatch(cleaned) is None:
        raise ValueError(f"{text!r} is not a duration {_EXAMPLES}")
    days = seconds = business = 0
    for count, word in _HUMAN_PART.findall(cleaned):
        if word == "bday":
            business += int(count)
            continue
        unit = _unit(text, word)
        if unit in _DAY_UNITS:
            days += int(count) * _DAY_UNITS[unit]
        else:
            seconds += int(count) * _SECOND_UNITS[unit]
    return Duration(days=days, seconds=seconds, business_days=business)


def _unit(text: str, word: str) -> str:
    if word in _AMBIGUOUS_UNITS:
        raise ValueError(_ambiguous(text))
    unit = _ALIASES.get(word, word)
    singular = unit.removesuffix("s")
    if singular in _DAY_UNITS or singular in _SECOND_UNITS:
        return singular
    raise ValueError(f"{text!r} is not a duration {_EXAMPLES}")


def _parse_iso(text: str, cleaned: str) -> Duration:
    match = _ISO.fullmatch(cleaned)
    if match is None or cleaned in ("p", "pt"):
        date_part = cleaned.partition("t")[0]
        if "y" in date_part or "m" in date_part:
            raise ValueError(_ambiguous(text))
        raise ValueError(f"{text!r} is not a duration {_EXAMPLES}")
    parts = {name: int(value or 0) for name, value in match.groupdict().items()}
    return Duration(
        days=parts["weeks"] * 7 + parts["days"],
        seconds=parts["hours"] * 3600 + parts["minutes"] * 60 + parts["seconds"],
    )


def _ambiguous(text: str) -> str:
    return (
        f"{text!r} uses months or years, whose length varies; "
        "write days or weeks, such as '30 days'"
    )


def _plural(count: int, unit: str) -> str:
    return f"{count} {unit}" if count == 1 else f"{count} {unit}s"
