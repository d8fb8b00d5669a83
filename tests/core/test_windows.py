"""Delivery windows: a delay lets the contact on at the first instant, at or after its
duration, whose wall-clock time in the window's zone is on an open weekday and in
[start, end); exact across daylight-saving changes and whatever the server's time zone."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from app.core.timing import delay_due, describe_local, in_window, next_window_open

NY = ZoneInfo("America/New_York")
TOKYO = ZoneInfo("Asia/Tokyo")
LORD_HOWE = ZoneInfo("Australia/Lord_Howe")
CHATHAM = ZoneInfo("Pacific/Chatham")
WEEKDAYS = ["mon", "tue", "wed", "thu", "fri"]
OFFICE = {"weekdays": WEEKDAYS, "start": "09:00", "end": "17:00", "timezone": "recipient"}
QUARTER = timedelta(minutes=15)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def window(start: str, end: str, weekdays: list[str] | None = None, **extra: Any) -> dict:
    shape: dict[str, Any] = {"start": start, "end": end, **extra}
    if weekdays is not None:
        shape["weekdays"] = weekdays
    return shape


# --- in_window ---------------------------------------------------------------------------------


def test_window_is_half_open_in_local_time() -> None:
    # Monday 7 December 2026: New York is UTC-5.
    assert not in_window(utc(2026, 12, 7, 13, 59, 59), OFFICE, NY)  # 08:59:59
    assert in_window(utc(2026, 12, 7, 14, 0), OFFICE, NY)  # 09:00 opens
    assert in_window(utc(2026, 12, 7, 21, 59, 59), OFFICE, NY)  # 16:59:59
    assert not in_window(utc(2026, 12, 7, 22, 0), OFFICE, NY)  # 17:00 is closed


def test_window_weekdays_are_the_local_weekdays() -> None:
    # Saturday 02:00Z is still Friday 21:00 in New York (closed: after 17:00) but Saturday
    # 11:00 in Tokyo (closed: a weekend); Friday 23:00Z is Saturday 08:00 in Tokyo.
    evening = window("20:00", "23:00", WEEKDAYS)
    assert in_window(utc(2026, 12, 5, 2, 0), evening, NY)  # Friday 21:00 EST
    assert not in_window(utc(2026, 12, 5, 2, 0), evening, TOKYO)  # Saturday 11:00 JST
    assert in_window(utc(2026, 12, 4, 12, 0), evening, TOKYO)  # Friday 21:00 JST


def test_weekdays_default_to_every_day() -> None:
    daily = window("09:00", "17:00")
    assert in_window(utc(2026, 12, 6, 15, 0), daily, NY)  # Sunday 10:00
    assert not in_window(utc(2026, 12, 6, 15, 0), OFFICE, NY)


def test_an_iana_window_zone_overrides_the_recipient() -> None:
    paris = {**OFFICE, "timezone": "Europe/Paris"}
    moment = utc(2026, 12, 7, 8, 30)  # 09:30 in Paris, 03:30 in New York
    assert in_window(moment, paris, NY)
    assert not in_window(moment, OFFICE, NY)
    assert not in_window(moment, {**OFFICE, "timezone": "recipient"}, NY)


def test_naive_instants_are_refused() -> None:
    # Converting a naive datetime would read the server's own zone.
    with pytest.raises(ValueError, match="no time zone"):
        in_window(datetime(2026, 12, 7, 14, 0), OFFICE, NY)
    with pytest.raises(ValueError, match="no time zone"):
        next_window_open(datetime(2026, 12, 7, 14, 0), OFFICE, NY)


# --- next_window_open --------------------------------------------------------------------------


def test_inside_the_window_is_returned_as_is() -> None:
    inside = datetime(2026, 12, 7, 10, 17, 23, 5, tzinfo=NY)
    opened = next_window_open(inside, OFFICE, NY)
    assert opened == inside
    assert opened.tzinfo is UTC


def test_weekend_waits_for_monday() -> None:
    assert next_window_open(utc(2026, 12, 5, 15, 0), OFFICE, NY) == utc(2026, 12, 7, 14, 0)


def test_a_single_weekday_window_can_be_six_days_away() -> None:
    tuesday = window("09:00", "10:00", ["tue"])
    assert next_window_open(utc(2026, 12, 8, 15, 0), tuesday, NY) == utc(2026, 12, 15, 14, 0)


def test_window_start_follows_the_spring_forward_change() -> None:
    nine = window("09:00", "17:00")
    assert next_window_open(utc(2026, 3, 7, 5, 0), nine, NY) == utc(2026, 3, 7, 14, 0)  # EST
    assert next_window_open(utc(2026, 3, 8, 5, 0), nine, NY) == utc(2026, 3, 8, 13, 0)  # EDT


def test_window_start_in_the_gap_opens_once_at_the_end_of_the_gap() -> None:
    # 02:30 does not exist on 8 March 2026 in New York; at 07:00Z the clock jumps from 02:00
    # EST to 03:00 EDT, the first instant whose wall time is past 02:30.
    early = window("02:30", "17:00")
    answers = {next_window_open(utc(2026, 3, 8, entered, 0), early, NY) for entered in (5, 6)}
    assert answers == {utc(2026, 3, 8, 7, 0)}
    opened = answers.pop()
    assert in_window(opened, early, NY)
    assert not in_window(opened - timedelta(seconds=1), early, NY)  # 01:59:59 EST


def test_window_inside_the_gap_skips_that_day() -> None:
    # 02:15-02:45 never shows on New York clocks on 8 March: the next Sunday's window opens.
    swallowed = window("02:15", "02:45", ["sun"])
    assert next_window_open(utc(2026, 3, 7, 12, 0), swallowed, NY) == utc(2026, 3, 15, 6, 15)


def test_ambiguous_window_start_takes_the_first_occurrence() -> None:
    # 01:30 happens twice on 1 November 2026 in New York: 05:30Z (EDT) and 06:30Z (EST).
    late = window("01:30", "17:00")
    answers = {next_window_open(utc(2026, 11, 1, 4, minute), late, NY) for minute in (0, 50)}
    assert answers == {utc(2026, 11, 1, 5, 30)}


def test_fall_back_can_reopen_a_window_by_turning_the_clock_back() -> None:
    # At 06:00Z the clock goes from 01:59:59 EDT back to 01:00 EST, inside 00:45-01:30 again.
    night = window("00:45", "01:30")
    assert not in_window(utc(2026, 11, 1, 5, 50), night, NY)  # 01:50 EDT
    assert next_window_open(utc(2026, 11, 1, 5, 50), night, NY) == utc(2026, 11, 1, 6, 0)


def test_half_hour_shift_in_lord_howe() -> None:
    # Lord Howe moves from +10:30 to +11 at 02:00 local on 4 October 2026 (15:30Z on the 3rd).
    early = window("02:00", "02:15", ["sun"])
    opened = next_window_open(utc(2026, 10, 3, 12, 0), early, LORD_HOWE)
    assert opened == utc(2026, 10, 10, 15, 0)  # the next Sunday, 02:00 +11
    assert next_window_open(utc(2026, 10, 3, 12, 0), window("02:00", "04:00"), LORD_HOWE) == utc(
        2026, 10, 3, 15, 30
    )  # 02:30 +11, the end of the gap


# --- delay_due with a window --------------------------------------------------------------------

SEED_STEP_3 = {
    "duration": "2 days",
    "window": OFFICE,
    "if_window_missed": "next_window",
}


def test_seed_step_3_for_a_new_york_contact() -> None:
    friday = utc(2026, 12, 4, 22, 0)  # Friday 17:00 EST: two days later is Sunday 17:00
    due = delay_due(SEED_STEP_3, friday, NY)
    assert due == utc(2026, 12, 7, 14, 0)
    assert due.astimezone(NY).replace(tzinfo=None) == datetime(2026, 12, 7, 9, 0)
    assert describe_local(due, NY) == "Mon 7 Dec 09:00 America/New_York, 14:00 UTC"


def test_seed_step_3_for_a_tokyo_contact() -> None:
    friday = utc(2026, 12, 4, 22, 0)  # Saturday 07:00 JST: two days later is Monday 07:00
    due = delay_due(SEED_STEP_3, friday, TOKYO)
    assert due == utc(2026, 12, 7, 0, 0)
    assert due.astimezone(TOKYO).replace(tzinfo=None) == datetime(2026, 12, 7, 9, 0)


def test_a_duration_ending_inside_the_window_is_not_moved() -> None:
    tuesday = utc(2026, 12, 8, 15, 0)  # 10:00 EST
    assert delay_due(SEED_STEP_3, tuesday, NY) == utc(2026, 12, 10, 15, 0)


def test_window_in_its_own_zone() -> None:
    # Due Sunday 17:00 EST = Monday 07:00 JST; a Tokyo office window opens Monday 09:00 JST.
    config = {**SEED_STEP_3, "window": {**OFFICE, "timezone": "Asia/Tokyo"}}
    assert delay_due(config, utc(2026, 12, 4, 22, 0), NY) == utc(2026, 12, 7, 0, 0)


def test_send_anyway_still_waits_for_the_window_when_first_scheduled() -> None:
    # `if_window_missed` is about a window missed while due (a backlog): the engine's business.
    config = {**SEED_STEP_3, "if_window_missed": "send_anyway"}
    assert delay_due(config, utc(2026, 12, 4, 22, 0), NY) == utc(2026, 12, 7, 14, 0)


# --- properties --------------------------------------------------------------------------------

ZONES = [
    "America/New_York",
    "Europe/London",
    "Asia/Kolkata",
    "Australia/Lord_Howe",  # 30-minute DST shift
    "Pacific/Chatham",  # +12:45 / +13:45, changes at 02:45 local
    "UTC",
]
DAY_NAMES = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
START = utc(2025, 1, 1)
SPAN_MINUTES = int((utc(2028, 1, 1) - START).total_seconds() // 60) - 1

zones = st.sampled_from(ZONES).map(ZoneInfo)
entered_times = st.integers(0, SPAN_MINUTES).map(lambda minutes: START + timedelta(minutes=minutes))
durations = st.one_of(
    st.integers(0, 59).map(lambda n: f"{n} minutes"),
    st.integers(1, 48).map(lambda n: f"{n} hours"),
    st.integers(1, 14).map(lambda n: f"{n} days"),
    st.integers(1, 4).map(lambda n: f"{n} weeks"),
    st.tuples(st.integers(1, 3), st.integers(1, 23)).map(lambda p: f"{p[0]} days {p[1]} hours"),
)


def _clock(quarters: int) -> str:
    return f"{quarters // 4:02d}:{quarters % 4 * 15:02d}"


@st.composite
def windows(draw: st.DrawFn) -> dict[str, Any]:
    start = draw(st.integers(0, 94))  # quarter hours; "23:45" is the latest end
    end = draw(st.integers(start + 1, 95))
    shape: dict[str, Any] = {"start": _clock(start), "end": _clock(end)}
    days = draw(st.none() | st.sets(st.sampled_from(DAY_NAMES), min_size=1))
    if days is not None:
        shape["weekdays"] = [day for day in DAY_NAMES if day in days]
    shape["timezone"] = draw(st.sampled_from(["recipient", *ZONES]))
    return shape


def _inside(moment: datetime, shape: dict[str, Any], zone: ZoneInfo) -> bool:
    """The window test written out independently: wall clock, weekday, [start, end)."""
    name = shape.get("timezone", "recipient")
    local = moment.astimezone(zone if name == "recipient" else ZoneInfo(name))
    days = shape.get("weekdays", DAY_NAMES)
    wall = f"{local:%H:%M:%S.%f}"
    return DAY_NAMES[local.weekday()] in days and shape["start"] <= wall < shape["end"]


@settings(max_examples=200, deadline=None)
@given(entered=entered_times, duration=durations, shape=windows(), zone=zones)
@example(  # start in the New York gap: opens at 03:00 EDT
    entered=utc(2026, 3, 7, 12, 0), duration="1 day", shape=window("02:30", "04:00"), zone=NY
)
@example(  # a Sunday window that the Chatham gap swallows: a week later
    entered=utc(2026, 9, 26, 0, 0),
    duration="30 minutes",
    shape=window("02:45", "03:30", ["sun"]),
    zone=CHATHAM,
)
@example(  # the clock turns back into a night window in New York
    entered=utc(2026, 11, 1, 5, 50), duration="0 minutes", shape=window("00:45", "01:30"), zone=NY
)
@example(
    entered=utc(2026, 10, 3, 12, 0),
    duration="2 hours",
    shape=window("02:00", "02:15", ["sun"], timezone="Australia/Lord_Howe"),
    zone=ZoneInfo("UTC"),
)
def test_due_is_the_first_instant_in_the_window_after_the_duration(
    entered: datetime, duration: str, shape: dict[str, Any], zone: ZoneInfo
) -> None:
    plain = delay_due({"duration": duration}, entered, zone)
    due = delay_due({"duration": duration, "window": shape}, entered, zone)

    assert due.tzinfo is UTC
    assert due >= plain  # never before the duration has passed
    assert in_window(due, shape, zone)
    assert _inside(due, shape, zone)
    # The earliest such instant: nothing inside the window between the duration's end and due.
    before = due - timedelta(minutes=1)
    assert before < plain or not _inside(before, shape, zone)
    if due > plain:
        assert not _inside(plain, shape, zone)
        assert not in_window(plain, shape, zone)
        # In these zones membership only changes on UTC quarter hours: check each one.
        mark = plain.replace(minute=plain.minute // 15 * 15, second=0, microsecond=0) + QUARTER
        while mark < due:
            assert not _inside(mark, shape, zone), mark
            mark += QUARTER
        assert due - plain <= timedelta(days=15)


@settings(max_examples=100, deadline=None)
@given(earliest=entered_times, shape=windows(), zone=zones)
def test_next_window_open_is_idempotent(
    earliest: datetime, shape: dict[str, Any], zone: ZoneInfo
) -> None:
    opened = next_window_open(earliest, shape, zone)
    assert opened >= earliest
    assert next_window_open(opened, shape, zone) == opened
    assert in_window(opened, shape, zone) == _inside(opened, shape, zone) is True


# --- independence from the process time zone -----------------------------------------


def _computations() -> list[object]:
    friday = utc(2026, 12, 4, 22, 0)
    return [
        delay_due(SEED_STEP_3, friday, NY),
        delay_due(SEED_STEP_3, friday, TOKYO),
        next_window_open(utc(2026, 3, 8, 5, 0), window("02:30", "17:00"), NY),
        next_window_open(utc(2026, 11, 1, 4, 0), window("01:30", "17:00"), NY),
        in_window(utc(2026, 12, 5, 2, 0), window("20:00", "23:00", WEEKDAYS), NY),
        delay_due({"until": "weekday", "weekday": "monday", "time": "09:00"}, friday, NY),
        delay_due({"until": "datetime", "at": "2026-12-10T09:00:00"}, friday, NY),
        delay_due(
            {"until": "field", "field": "webinar_at", "offset": "-1 day"},
            friday,
            NY,
            {"webinar_at": "2026-12-10"},
        ),
        describe_local(friday, NY),
    ]


@pytest.mark.skipif(not hasattr(time, "tzset"), reason="time.tzset is Unix-only")
def test_results_do_not_depend_on_the_process_time_zone(
    process_tz: Callable[[str], None],
) -> None:
    process_tz("Asia/Kolkata")
    assert time.timezone == -(5 * 3600 + 30 * 60)  # the change really took effect
    in_kolkata = _computations()

    process_tz("UTC")
    in_utc = _computations()

    assert in_kolkata == in_utc
    assert in_utc[0] == utc(2026, 12, 7, 14, 0)
    assert in_utc[-1] == "Fri 4 Dec 17:00 America/New_York, 22:00 UTC"
