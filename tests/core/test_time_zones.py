"""A contact's time zone is an IANA Area/Location name or UTC; what people type instead
(abbreviations, offsets, cities, wrong case) is refused with the zone they most likely mean."""

from __future__ import annotations

import pytest

from app.core.time_zones import zone_problem


@pytest.mark.parametrize("name", ["Europe/Paris", "America/New_York", "UTC", "Etc/UTC"])
def test_iana_area_location_names_and_utc_are_accepted(name):
    assert zone_problem(name) is None


@pytest.mark.parametrize(
    ("typed", "meant"),
    [
        ("EST", "America/New_York"),
        ("est", "America/New_York"),
        ("EST5EDT", "America/New_York"),
        ("PDT", "America/Los_Angeles"),
        ("CET", "Europe/Paris"),
        ("HST", "Pacific/Honolulu"),
        ("GMT", "UTC"),
        ("UTC-5", "America/New_York"),
        ("GMT+1", "Europe/Paris"),
        ("+05:30", "Asia/Kolkata"),
        ("-0800", "America/Los_Angeles"),
        ("Etc/GMT+5", "America/New_York"),  # the tz database's inverted sign: UTC-5
        ("europe/paris", "Europe/Paris"),
        ("new york", "America/New_York"),
        ("Tokyo", "Asia/Tokyo"),
    ],
)
def test_what_people_type_instead_is_refused_with_the_zone_they_mean(typed, meant):
    assert zone_problem(typed) == (
        f"{typed!r} is not an IANA time zone such as 'Europe/Paris': did you mean {meant!r}?"
    )


@pytest.mark.parametrize("name", ["Mars/Olympus", "UTC+99", "nowhere"])
def test_a_name_nothing_fits_is_refused_without_a_suggestion(name):
    assert zone_problem(name) == f"{name!r} is not an IANA time zone such as 'Europe/Paris'"
