"""Which time zone names a contact may have, and what to suggest for the ones people type.

A contact's zone must be an IANA Area/Location name (`America/New_York`) or `UTC`. The tz
database also knows `EST`, `MST`, `HST`, `CET`, `EST5EDT` and fixed offsets such as
`Etc/GMT+5`, but these are refused: `EST` there is UTC-5 all year round (no summer
time), which is never what "EST" typed by a person means, and `Etc/GMT+5` is UTC-5. For
abbreviations, offsets (`UTC-5`, `+05:30`), city names and wrong capitalisation, the
message suggests the zone most people mean.
"""

from __future__ import annotations

import re
from functools import cache
from zoneinfo import available_timezones

from app.core.timing import load_zone

ABBREVIATIONS = {
    "UTC": "UTC",
    "GMT": "UTC",
    "UT": "UTC",
    "Z": "UTC",
    "ZULU": "UTC",
    "ET": "America/New_York",
    "EST": "America/New_York",
    "EDT": "America/New_York",
    "EASTERN": "America/New_York",
    "EST5EDT": "America/New_York",
    "CT": "America/Chicago",
    "CST": "America/Chicago",
    "CDT": "America/Chicago",
    "CENTRAL": "America/Chicago",
    "CST6CDT": "America/Chicago",
    "MT": "America/Denver",
    "MST": "America/Denver",
    "MDT": "America/Denver",
    "MOUNTAIN": "America/Denver",
    "MST7MDT": "America/Denver",
    "PT": "America/Los_Angeles",
    "PST": "America/Los_Angeles",
    "PDT": "America/Los_Angeles",
    "PACIFIC": "America/Los_Angeles",
    "PST8PDT": "America/Los_Angeles",
    "AKST": "America/Anchorage",
    "AKDT": "America/Anchorage",
    "HST": "Pacific/Honolulu",
    "AST": "America/Halifax",
    "ADT": "America/Halifax",
    "BRT": "America/Sao_Paulo",
    "ART": "America/Argentina/Buenos_Aires",
    "WET": "Europe/Lisbon",
    "WEST": "Europe/Lisbon",
    "BST": "Europe/London",
    "CET": "Europe/Paris",
    "CEST": "Europe/Paris",
    "MET": "Europe/Paris",
    "EET": "Europe/Athens",
    "EEST": "Europe/Athens",
    "MSK": "Europe/Moscow",
    "SAST": "Africa/Johannesburg",
    "GST": "Asia/Dubai",
    "PKT": "Asia/Karachi",
    "IST": "Asia/Kolkata",
    "ICT": "Asia/Bangkok",
    "WIB": "Asia/Jakarta",
    "SGT": "Asia/Singapore",
    "HKT": "Asia/Hong_Kong",
    "PHT": "Asia/Manila",
    "JST": "Asia/Tokyo",
    "KST": "Asia/Seoul",
    "AWST": "Australia/Perth",
    "ACST": "Australia/Adelaide",
    "AEST": "Australia/Sydney",
    "AEDT": "Australia/Sydney",
    "NZST": "Pacific/Auckland",
    "NZDT": "Pacific/Auckland",
}
"""Abbreviations (and the tz database's legacy names) to the zone most people mean."""

OFFSETS = {
    -600: "Pacific/Honolulu",
    -540: "America/Anchorage",
    -480: "America/Los_Angeles",
    -420: "America/Denver",
    -360: "America/Chicago",
    -300: "America/New_York",
    -240: "America/Halifax",
    -180: "America/Sao_Paulo",
    0: "UTC",
    60: "Europe/Paris",
    120: "Europe/Athens",
    180: "Europe/Moscow",
    240: "Asia/Dubai",
    300: "Asia/Karachi",
    330: "Asia/Kolkata",
    345: "Asia/Kathmandu",
    360: "Asia/Dhaka",
    420: "Asia/Bangkok",
    480: "Asia/Singapore",
    540: "Asia/Tokyo",
    570: "Australia/Adelaide",
    600: "Australia/Sydney",
    720: "Pacific/Auckland",
}
"""A UTC offset in minutes to a populous zone that has it (in standard time)."""

_OFFSET = re.compile(r"(?:UTC|GMT|ETC/GMT)?\s*([+-])\s*(\d{1,2})(?::?(\d{2}))?")


def zone_problem(name: str) -> str | None:
    """Why `name` cannot be a contact's time zone, with a suggestion when there is one;
    None for an accepted name."""
    if is_accepted(name):
        return None
    suggestion = suggest_zone(name)
    problem = f"{name!r} is not an IANA time zone such as 'Europe/Paris'"
    return problem if suggestion is None else f"{problem}: did you mean {suggestion!r}?"


def is_accepted(name: str) -> bool:
    """An Area/Location name of the tz database (not a fixed `Etc/` offset), or UTC."""
    if name == "UTC":
        return True
    if "/" not in name or (name.startswith("Etc/") and name != "Etc/UTC"):
        return False
    return load_zone(name) is not None


def suggest_zone(name: str) -> str | None:
    """The zone most people mean by `name`: for an abbreviation, an offset, a name in the
    wrong case or a city (`new york`); None when nothing fits."""
    text = name.strip()
    upper = text.upper()
    if upper in ABBREVIATIONS:
        return ABBREVIATIONS[upper]
    offset = _OFFSET.fullmatch(upper)
    if offset is not None:
        sign, hours, minutes = offset.groups()
        total = int(hours) * 60 + int(minutes or 0)
        inverted = upper.startswith("ETC/GMT")  # the tz database's POSIX sign: GMT+5 is UTC-5
        negative = (sign == "-") != inverted
        return OFFSETS.get(-total if negative else total)
    key = re.sub(r"\s+", "_", text).lower()
    by_name, by_city = _indexes()
    return by_name.get(key) or by_city.get(key)


@cache
def _indexes() -> tuple[dict[str, str], dict[str, str]]:
    """Accepted names by their lower-case form, and by their lower-case last part (city)."""
    names = sorted(zone for zone in available_timezones() if is_accepted(zone))
    by_name = {zone.lower(): zone for zone in names}
    by_city: dict[str, str] = {}
    for zone in names:
        by_city.setdefault(zone.rsplit("/", 1)[-1].lower(), zone)
    return by_name, by_city
