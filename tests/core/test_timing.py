"""Timing: calendar days keep the local time of day, clock units are absolute, every local
time resolves to exactly one instant, and nothing depends on the server's own time zone."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from app.core.durations import Duration
from app.core.timing import add_duration, delay_due, load_zone, local_to_utc, resolve_zone

NY = ZoneInfo("America/New_York")
HOUR = 3600


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


# --- calendar days across daylight-saving changes -------------------------------------


def test_days_keep_local_time_across_spring_forward() -> None:
    start = datetime(2026, 3, 6, 15, 0, tzinfo=NY)  # Friday 15:00 EST = 20:00Z
    due = add_duration(start, Duration(days=2), NY)
    assert due == utc(2026, 3, 8, 19, 0)  # Sunday 15:00 EDT
    assert due != start.astimezone(UTC) + timedelta(hours=48)  # 48 h: 20:00Z (16:00 EDT)
    assert due.astimezone(NY).replace(tzinfo=None) == datetime(2026, 3, 8, 15, 0)


def test_days_keep_local_time_across_fall_back() -> None:
    start = datetime(2026, 10, 30, 15, 0, tzinfo=NY)  # Friday 15:00 EDT = 19:00Z
    due = add_duration(start, Duration(days=2), NY)
    assert due == utc(2026, 11, 1, 20, 0)  # Sunday 15:00 EST
    assert due != start.astimezone(UTC) + timedelta(hours=48)  # 48 h: 19:00Z (14:00 EST)
    assert due.astimezone(NY).replace(tzinfo=None) == datetime(2026, 11, 1, 15, 0)


def test_weeks_are_calendar_days_too() -> None:
    start = datetime(2026, 3, 2, 9, 0, tzinfo=NY)  # Monday 09:00 EST
    due = delay_due({"duration": "1 week"}, start, NY)
    assert due == utc(2026, 3, 9, 13, 0)  # Monday 09:00 EDT, 167 hours later


def test_delay_due_parses_the_configured_duration() -> None:
    start = datetime(2026, 3, 6, 15, 0, tzinfo=NY)
    assert delay_due({"duration": "P2D"}, start, NY) == utc(2026, 3, 8, 19, 0)
    assert delay_due({"duration": "2 days"}, start, NY) == utc(2026, 3, 8, 19, 0)
    assert delay_due({"duration": "48 hours"}, start, NY) == utc(2026, 3, 8, 20, 0)


def test_two_days_across_the_london_october_change_keep_local_time() -> None:
    london = ZoneInfo("Europe/London")
    friday = datetime(2026, 10, 23, 15, 0, tzinfo=london)  # 15:00 BST = 14:00Z; GMT from Sunday
    two_days = delay_due({"duration": "2 days"}, friday, london)
    assert two_days == utc(2026, 10, 25, 15, 0)  # Sunday 15:00 GMT
    assert two_days.astimezone(london).replace(tzinfo=None) == datetime(2026, 10, 25, 15, 0)
    forty_eight = delay_due({"duration": "48 hours"}, friday, london)
    assert forty_eight == utc(2026, 10, 25, 14, 0)  # absolute: Sunday 14:00 GMT
    assert forty_eight.astimezone(london).hour == 14


# --- clock units are absolute ----------------------------------------------------------


def test_hours_are_absolute_across_spring_forward() -> None:
    start = datetime(2026, 3, 6, 15, 0, tzinfo=NY)
    due = add_duration(start, Duration(seconds=48 * HOUR), NY)
    assert due == utc(2026, 3, 8, 20, 0)
    assert due.astimezone(NY).hour == 16  # the wall clock moved by 49 hours


def test_hours_are_absolute_across_fall_back() -> None:
    start = datetime(2026, 10, 31, 12, 0, tzinfo=NY)  # Saturday 12:00 EDT = 16:00Z
    due = add_duration(start, Duration(seconds=24 * HOUR), NY)
    assert due == utc(2026, 11, 1, 16, 0)
    assert due.astimezone(NY).hour == 11  # 11:00 EST: the wall clock moved by 23 hours


def test_minutes_step_over_the_gap() -> None:
    start = datetime(2026, 3, 8, 1, 30, tzinfo=NY)  # 01:30 EST = 06:30Z
    due = add_duration(start, Duration(seconds=60 * 60), NY)
    assert due == utc(2026, 3, 8, 7, 30)
    assert due.astimezone(NY).replace(tzinfo=None) == datetime(2026, 3, 8, 3, 30)


def test_days_are_applied_before_clock_time() -> None:
    # Saturday 01:00 EST; "1 day 2 hours" is Sunday 01:00 EST (06:00Z) plus 2 hours = 08:00Z.
    # Adding the hours first would give Saturday 03:00 EST + 1 day = Sunday 03:00 EDT = 07:00Z.
    start = datetime(2026, 3, 7, 1, 0, tzinfo=NY)
    assert add_duration(start, Duration(days=1, seconds=2 * HOUR), NY) == utc(2026, 3, 8, 8, 0)


def test_result_is_utc_whatever_the_start_zone() -> None:
    start_ny = datetime(2026, 3, 6, 15, 0, tzinfo=NY)
    start_kolkata = start_ny.astimezone(ZoneInfo("Asia/Kolkata"))
    for start in (start_ny, start_kolkata, start_ny.astimezone(UTC)):
        due = add_duration(start, Duration(days=2), NY)
        assert due.tzinfo is UTC
        assert due == utc(2026, 3, 8, 19, 0)


# --- local times that do not exist, or exist twice ------------------------------------


def test_nonexistent_local_time_moves_forward_by_the_gap() -> None:
    instant = local_to_utc(datetime(2026, 3, 8, 2, 30), NY)
    assert instant == utc(2026, 3, 8, 7, 30)
    assert instant.tzinfo is UTC
    assert instant.astimezone(NY).replace(tzinfo=None) == datetime(2026, 3, 8, 3, 30)
    assert instant.astimezone(NY).tzname() == "EDT"


def test_ambiguous_local_time_takes_the_first_occurrence() -> None:
    assert local_to_utc(datetime(2026, 11, 1, 1, 30), NY) == utc(2026, 11, 1, 5, 30)
    # Even if the naive value says "second occurrence", the rule is the first.
    assert local_to_utc(datetime(2026, 11, 1, 1, 30, fold=1), NY) == utc(2026, 11, 1, 5, 30)


def test_days_landing_in_the_gap_resolve_after_it() -> None:
    start = datetime(2026, 3, 7, 2, 30, tzinfo=NY)  # Saturday 02:30 EST
    due = add_duration(start, Duration(days=1), NY)  # Sunday 02:30 does not exist
    assert due == utc(2026, 3, 8, 7, 30)  # 03:30 EDT
    assert due.astimezone(NY).replace(tzinfo=None) == datetime(2026, 3, 8, 3, 30)


def test_days_landing_in_the_fold_take_the_first_occurrence() -> None:
    start = datetime(2026, 10, 31, 1, 30, tzinfo=NY)  # Saturday 01:30 EDT
    assert add_duration(start, Duration(days=1), NY) == utc(2026, 11, 1, 5, 30)  # 01:30 EDT


def test_days_from_the_second_occurrence_keep_its_wall_time() -> None:
    start = utc(2026, 11, 1, 6, 30)  # 01:30 EST, the second 01:30 of the night
    assert add_duration(start, Duration(), NY) == start
    assert add_duration(start, Duration(days=1), NY) == utc(2026, 11, 2, 6, 30)  # 01:30 EST


# --- which zone applies ----------------------------------------------------------------


def test_contact_zone_wins_when_valid() -> None:
    resolved = resolve_zone("Asia/Kolkata", "Europe/London", "America/New_York")
    assert resolved.zone == ZoneInfo("Asia/Kolkata")
    assert resolved.rejected == ()


def test_invalid_contact_zone_falls_back_to_the_sequence() -> None:
    resolved = resolve_zone("America/New_Yrok", "Europe/London", "Asia/Kolkata")
    assert resolved.zone == ZoneInfo("Europe/London")
    assert resolved.rejected == ("America/New_Yrok",)


def test_missing_zones_fall_back_to_the_workspace_without_being_rejected() -> None:
    resolved = resolve_zone(None, "", "Asia/Kolkata")
    assert resolved.zone == ZoneInfo("Asia/Kolkata")
    assert resolved.rejected == ()


def test_all_invalid_falls_back_to_utc_and_records_each_refusal() -> None:
    resolved = resolve_zone("America/New_Yrok", "Not/AZone", None)
    assert resolved.zone == ZoneInfo("UTC")
    assert resolved.rejected == ("America/New_Yrok", "Not/AZone")
    assert resolve_zone().zone == ZoneInfo("UTC")
    assert resolve_zone(None, "", None) == resolve_zone()


def test_legacy_abbreviation_est_is_a_real_tzdata_zone() -> None:
    # 'EST' is a fixed UTC-5 zone in the tz database (no DST), so it is accepted as written.
    resolved = resolve_zone("EST", "Europe/London")
    assert resolved.zone == ZoneInfo("EST")
    assert resolved.rejected == ()
    assert resolved.zone.utcoffset(datetime(2026, 7, 1)) == timedelta(hours=-5)


@pytest.mark.parametrize(
    "name",
    [
        "America/New_Yrok",
        "Not/AZone",
        "America",  # a directory
        "America/New_York ",
        "../etc/passwd",
        "/etc/localtime",
        "zone.tab",  # a file in the zone directory that is not a zone
        "UTC\x00",
        "   ",
    ],
)
def test_bad_zone_names_never_raise(name: str) -> None:
    assert load_zone(name) is None
    resolved = resolve_zone(name, None, "Europe/London")
    assert resolved.zone == ZoneInfo("Europe/London")
    assert resolved.rejected == (name,)


# --- properties over zones with unusual transitions -------------------------------------

ZONES = [
    "America/New_York",
    "Europe/London",
    "Asia/Kolkata",
    "Australia/Lord_Howe",  # 30-minute DST shift
    "Pacific/Chatham",  # +12:45 / +13:45
    "UTC",
]
START_MIN = utc(2026, 1, 1)
SPAN_SECONDS = int((utc(2028, 1, 1) - START_MIN).total_seconds()) - 1

zones = st.sampled_from(ZONES).map(ZoneInfo)
starts = st.builds(
    lambda offset, shown_in: (START_MIN + timedelta(seconds=offset)).astimezone(shown_in),
    st.integers(0, SPAN_SECONDS),
    zones,
)
durations = st.builds(Duration, days=st.integers(0, 30), seconds=st.integers(0, 86399))


def _exists(naive: datetime, zone: ZoneInfo) -> bool:
    """Whether a wall-clock time occurs in `zone` (it does not inside a spring-forward gap)."""
    round_trip = naive.replace(tzinfo=zone).astimezone(UTC).astimezone(zone)
    return round_trip.replace(tzinfo=None) == naive


@settings(max_examples=400, deadline=None)
@given(start=starts, duration=durations, zone=zones)
@example(start=datetime(2026, 3, 6, 15, tzinfo=NY), duration=Duration(days=2), zone=NY)
@example(start=datetime(2026, 3, 7, 2, 30, tzinfo=NY), duration=Duration(days=1), zone=NY)
@example(start=utc(2026, 11, 1, 6, 30), duration=Duration(days=1, seconds=5), zone=NY)
@example(start=datetime(2026, 10, 31, 12, tzinfo=NY), duration=Duration(seconds=86399), zone=NY)
def test_add_duration_properties(start: datetime, duration: Duration, zone: ZoneInfo) -> None:
    result = add_duration(start, duration, zone)

    assert result.tzinfo is UTC
    floor = start.astimezone(UTC) + timedelta(seconds=duration.seconds)  # absolute, not wall
    if duration.days == 0:
        assert result == floor
    else:
        assert result > floor  # a calendar day is never shorter than the clock part alone


@settings(max_examples=400, deadline=None)
@given(start=starts, days=st.integers(1, 30), zone=zones)
@example(start=datetime(2026, 3, 7, 2, 30, tzinfo=NY), days=1, zone=NY)
@example(start=utc(2026, 10, 2, 15, 45), days=1, zone=ZoneInfo("Australia/Lord_Howe"))
@example(start=utc(2026, 9, 24, 14, 15), days=2, zone=ZoneInfo("Pacific/Chatham"))
def test_whole_days_keep_the_wall_time(start: datetime, days: int, zone: ZoneInfo) -> None:
    wall = start.astimezone(zone).replace(tzinfo=None)
    target = wall + timedelta(days=days)
    result_wall = add_duration(start, Duration(days=days), zone).astimezone(zone)

    if _exists(target, zone):
        assert result_wall.replace(tzinfo=None) == target
    else:
        gap = (
            target.replace(tzinfo=zone, fold=1).utcoffset()
            - target.replace(tzinfo=zone, fold=0).utcoffset()
        )
        assert gap > timedelta(0)
        assert result_wall.replace(tzinfo=None) == target + gap


# --- independence from the process time zone -----------------------------------------


def _computations() -> list[object]:
    fri = datetime(2026, 3, 6, 15, 0, tzinfo=NY)
    return [
        add_duration(fri, Duration(days=2), NY),
        add_duration(fri, Duration(seconds=48 * HOUR), NY),
        add_duration(utc(2026, 10, 30, 19), Duration(days=2, seconds=90), NY),
        add_duration(utc(2026, 10, 2, 15, 45), Duration(days=1), ZoneInfo("Australia/Lord_Howe")),
        delay_due({"duration": "1 day"}, utc(2026, 3, 7, 7, 30), NY),
        local_to_utc(datetime(2026, 3, 8, 2, 30), NY),
        local_to_utc(datetime(2026, 11, 1, 1, 30), NY),
        resolve_zone("Not/AZone", None, "").zone.key,
    ]


@pytest.mark.skipif(not hasattr(time, "tzset"), reason="time.tzset is Unix-only")
def test_results_do_not_depend_on_the_process_time_zone(
    process_tz: Callable[[str], None],
) -> None:
    process_tz("Asia/Kolkata")
    assert time.timezone == -(5 * HOUR + 30 * 60)  # the change really took effect
    in_kolkata = _computations()

    process_tz("UTC")
    assert time.timezone == 0
    in_utc = _computations()

    assert in_kolkata == in_utc
    assert in_utc[0] == utc(2026, 3, 8, 19, 0)
    assert in_utc[-1] == "UTC"
