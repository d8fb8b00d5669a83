"""Delays until a point in time: the next weekday at a local time, a fixed date-time, or a
date held in a contact field (or the triggering event) shifted by an offset. A target that is
not after the moment the contact entered, or a field that holds no date, skips the wait."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.core.timing import delay_due

NY = ZoneInfo("America/New_York")
TOKYO = ZoneInfo("Asia/Tokyo")
KOLKATA = ZoneInfo("Asia/Kolkata")


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def weekday(day: str, at: str, **extra: Any) -> dict[str, Any]:
    return {"until": "weekday", "weekday": day, "time": at, **extra}


def at(text: str, **extra: Any) -> dict[str, Any]:
    return {"until": "datetime", "at": text, **extra}


def field(name: str, offset: str | None = None, **extra: Any) -> dict[str, Any]:
    config: dict[str, Any] = {"until": "field", "field": name, **extra}
    if offset is not None:
        config["offset"] = offset
    return config


# --- until a weekday -------------------------------------------------------------------------


def test_next_monday_at_nine_local() -> None:
    wednesday = utc(2026, 12, 2, 12, 0)
    assert delay_due(weekday("monday", "09:00"), wednesday, NY) == utc(2026, 12, 7, 14, 0)


def test_same_weekday_later_today_is_today() -> None:
    monday_8am = utc(2026, 12, 7, 13, 0)  # 08:00 EST
    assert delay_due(weekday("monday", "09:00"), monday_8am, NY) == utc(2026, 12, 7, 14, 0)


def test_same_weekday_at_or_after_the_time_is_next_week() -> None:
    config = weekday("monday", "09:00")
    assert delay_due(config, utc(2026, 12, 7, 14, 0), NY) == utc(2026, 12, 14, 14, 0)  # strictly
    assert delay_due(config, utc(2026, 12, 7, 15, 0), NY) == utc(2026, 12, 14, 14, 0)


def test_weekday_is_the_recipients_local_weekday() -> None:
    # Sunday 20:00Z is already Monday 05:00 in Tokyo: Monday 09:00 JST is 4 hours away.
    sunday_evening = utc(2026, 12, 6, 20, 0)
    assert delay_due(weekday("monday", "09:00"), sunday_evening, TOKYO) == utc(2026, 12, 7, 0, 0)
    assert delay_due(weekday("monday", "09:00"), sunday_evening, NY) == utc(2026, 12, 7, 14, 0)


def test_weekday_in_a_given_zone_ignores_the_recipients() -> None:
    config = weekday("monday", "09:00", timezone="Asia/Tokyo")
    assert delay_due(config, utc(2026, 12, 2, 12, 0), NY) == utc(2026, 12, 7, 0, 0)
    recipient = weekday("monday", "09:00", timezone="recipient")
    assert delay_due(recipient, utc(2026, 12, 2, 12, 0), NY) == utc(2026, 12, 7, 14, 0)


def test_weekday_keeps_local_time_across_daylight_saving() -> None:
    config = weekday("monday", "09:00")
    assert delay_due(config, utc(2026, 3, 6, 12, 0), NY) == utc(2026, 3, 9, 13, 0)  # EDT
    assert delay_due(config, utc(2026, 10, 30, 12, 0), NY) == utc(2026, 11, 2, 14, 0)  # EST


def test_weekday_time_in_the_gap_or_the_fold_resolves_once() -> None:
    # Points in time use the duration rule: a gap pushes forward by its length, a fold
    # takes the first occurrence.
    saturday = utc(2026, 3, 7, 12, 0)
    assert delay_due(weekday("sunday", "02:30"), saturday, NY) == utc(2026, 3, 8, 7, 30)
    for hour in (12, 20):
        entered = utc(2026, 10, 31, hour, 0)
        assert delay_due(weekday("sunday", "01:30"), entered, NY) == utc(2026, 11, 1, 5, 30)


@settings(max_examples=150, deadline=None)
@given(
    minutes=st.integers(0, 3 * 366 * 24 * 60),
    day=st.sampled_from(["monday", "tuesday", "wednesday", "thursday", "friday", "saturday"]),
    quarter=st.integers(0, 95),
    zone=st.sampled_from(["America/New_York", "Australia/Lord_Howe", "Asia/Kolkata", "UTC"]),
)
def test_weekday_is_the_next_such_moment(minutes: int, day: str, quarter: int, zone: str) -> None:
    tz = ZoneInfo(zone)
    entered = utc(2025, 1, 1) + timedelta(minutes=minutes)
    clock = f"{quarter // 4:02d}:{quarter % 4 * 15:02d}"
    due = delay_due(weekday(day, clock), entered, tz)
    assert entered < due <= entered + timedelta(days=7, hours=1)
    local = due.astimezone(tz)
    assert local.strftime("%A").lower() == day
    # Exactly the requested time, unless that time does not exist that day (a gap).
    if f"{local:%H:%M}" != clock:
        wall = datetime.combine(local.date(), time(quarter // 4, quarter % 4 * 15))
        assert wall.replace(tzinfo=tz).astimezone(UTC).astimezone(tz).replace(tzinfo=None) != wall
        assert local.replace(tzinfo=None) > wall


# --- until a date and time ---------------------------------------------------------------------


def test_naive_datetime_is_recipient_local() -> None:
    entered = utc(2026, 11, 20, 12, 0)
    assert delay_due(at("2026-12-01T09:00:00"), entered, NY) == utc(2026, 12, 1, 14, 0)
    assert delay_due(at("2026-12-01T09:00:00"), entered, TOKYO) == utc(2026, 12, 1, 0, 0)


def test_naive_datetime_in_a_given_zone() -> None:
    config = at("2026-12-01T09:00:00", timezone="Europe/Paris")
    assert delay_due(config, utc(2026, 11, 20, 12, 0), NY) == utc(2026, 12, 1, 8, 0)


def test_datetime_with_an_offset_is_that_instant() -> None:
    entered = utc(2026, 11, 20, 12, 0)
    for zone in (NY, TOKYO):
        assert delay_due(at("2026-12-01T09:00:00+05:30"), entered, zone) == utc(2026, 12, 1, 3, 30)
        assert delay_due(at("2026-12-01T09:00:00Z"), entered, zone) == utc(2026, 12, 1, 9, 0)


def test_datetime_in_the_gap_is_pushed_forward() -> None:
    due = delay_due(at("2026-03-08T02:30:00"), utc(2026, 3, 1), NY)
    assert due == utc(2026, 3, 8, 7, 30)  # 03:30 EDT


def test_past_datetime_skips_the_wait() -> None:
    entered = datetime(2026, 12, 1, 9, 30, tzinfo=NY)
    due = delay_due(at("2026-12-01T09:00:00"), entered, NY)
    assert due == entered
    assert due.tzinfo is UTC


def test_datetime_equal_to_entry_skips_the_wait() -> None:
    entered = utc(2026, 12, 1, 14, 0)
    assert delay_due(at("2026-12-01T09:00:00"), entered, NY) == entered


def test_unknown_until_is_an_error() -> None:
    with pytest.raises(ValueError, match="tomorrow"):
        delay_due({"until": "tomorrow"}, utc(2026, 12, 1), NY)


# --- until a contact field ---------------------------------------------------------------------

ENTERED = utc(2026, 12, 1, 12, 0)


def test_field_date_time_minus_a_day() -> None:
    fields = {"webinar_at": "2026-12-10T15:00:00"}
    due = delay_due(field("webinar_at", "-1 day"), ENTERED, NY, fields)
    assert due == utc(2026, 12, 9, 20, 0)  # 15:00 EST the day before


def test_field_minus_an_hour_and_plus_hours() -> None:
    fields = {"webinar_at": "2026-12-10T15:00:00"}
    assert delay_due(field("webinar_at", "-1 hour"), ENTERED, NY, fields) == utc(2026, 12, 10, 19)
    assert delay_due(field("webinar_at", "+2 hours"), ENTERED, NY, fields) == utc(2026, 12, 10, 22)
    assert delay_due(field("webinar_at"), ENTERED, NY, fields) == utc(2026, 12, 10, 20)


def test_field_offset_days_are_calendar_days() -> None:
    # 8 March 10:00 EDT minus one calendar day is 7 March 10:00 EST, 25 hours earlier.
    fields = {"webinar_at": "2026-03-08T10:00:00"}
    entered = utc(2026, 3, 1)
    assert delay_due(field("webinar_at", "-1 day"), entered, NY, fields) == utc(2026, 3, 7, 15)
    assert delay_due(field("webinar_at", "-24 hours"), entered, NY, fields) == utc(2026, 3, 7, 14)


def test_date_only_field_means_local_midnight() -> None:
    fields = {"renewal_date": "2026-12-10"}
    assert delay_due(field("renewal_date"), ENTERED, NY, fields) == utc(2026, 12, 10, 5, 0)
    nine = delay_due(field("renewal_date", "+9 hours"), ENTERED, NY, fields)
    assert nine == utc(2026, 12, 10, 14, 0)
    assert delay_due(field("renewal_date"), ENTERED, KOLKATA, fields) == utc(2026, 12, 9, 18, 30)


def test_field_date_objects_are_accepted() -> None:
    fields = {"renewal": date(2026, 12, 10), "call": datetime(2026, 12, 10, 9, 0)}
    assert delay_due(field("renewal"), ENTERED, NY, fields) == utc(2026, 12, 10, 5, 0)
    assert delay_due(field("call"), ENTERED, NY, fields) == utc(2026, 12, 10, 14, 0)


def test_field_with_an_offset_is_that_instant() -> None:
    fields = {"webinar_at": "2026-12-10T15:00:00Z"}
    assert delay_due(field("webinar_at"), ENTERED, TOKYO, fields) == utc(2026, 12, 10, 15, 0)
    # The day before is a calendar day in the zone: 10:00 EST on the 9th.
    assert delay_due(field("webinar_at", "-1 day"), ENTERED, NY, fields) == utc(2026, 12, 9, 15)


def test_field_in_a_given_zone() -> None:
    fields = {"webinar_at": "2026-12-10T15:00:00"}
    config = field("webinar_at", "-1 day", timezone="Asia/Kolkata")
    assert delay_due(config, ENTERED, NY, fields) == utc(2026, 12, 9, 9, 30)
    recipient = field("webinar_at", "-1 day", timezone="recipient")
    assert delay_due(recipient, ENTERED, NY, fields) == utc(2026, 12, 9, 20, 0)


def test_field_falls_back_to_the_trigger_event() -> None:
    context = {"trigger": {"type": "api_event", "properties": {"webinar_at": "2026-12-10T15:00"}}}
    assert delay_due(field("webinar_at"), ENTERED, NY, None, context) == utc(2026, 12, 10, 20)
    assert delay_due(field("webinar_at"), ENTERED, NY, {"webinar_at": None}, context) == utc(
        2026, 12, 10, 20
    )
    assert delay_due(field("webinar_at"), ENTERED, NY, {"webinar_at": ""}, context) == utc(
        2026, 12, 10, 20
    )


def test_contact_field_wins_over_the_trigger_event() -> None:
    context = {"trigger": {"properties": {"webinar_at": "2026-12-10T15:00"}}}
    fields = {"webinar_at": "2026-12-11T15:00"}
    assert delay_due(field("webinar_at"), ENTERED, NY, fields, context) == utc(2026, 12, 11, 20)


@pytest.mark.parametrize(
    ("fields", "context"),
    [
        (None, None),
        ({}, {}),
        ({"other": "2026-12-10"}, {"trigger": {"properties": {"other": "2026-12-10"}}}),
        ({"webinar_at": "next tuesday"}, None),
        ({"webinar_at": "2026-13-40"}, None),
        ({"webinar_at": 1796000000}, None),  # numbers are not ISO 8601 text
        ({"webinar_at": True}, None),
        ({"webinar_at": ["2026-12-10"]}, None),
        (None, {"trigger": None}),
        (None, {"trigger": {"properties": "2026-12-10"}}),
    ],
)
def test_missing_or_unreadable_field_skips_the_wait(
    fields: dict[str, Any] | None, context: dict[str, Any] | None
) -> None:
    due = delay_due(field("webinar_at", "+2 days"), ENTERED, NY, fields, context)
    assert due == ENTERED
    assert due.tzinfo is UTC


def test_field_date_already_past_skips_the_wait() -> None:
    # The webinar is in two hours: "one day before" has already gone.
    fields = {"webinar_at": "2026-12-01T09:00:00"}  # 14:00Z, entered at 12:00Z
    assert delay_due(field("webinar_at", "-1 day"), ENTERED, NY, fields) == ENTERED
    assert delay_due(field("webinar_at"), ENTERED, NY, fields) == utc(2026, 12, 1, 14, 0)
    assert delay_due(field("webinar_at", "-2 hours"), ENTERED, NY, fields) == ENTERED  # equal
