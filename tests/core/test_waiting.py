"""Plain-language waits: what a contact waits for, and until when on their clock and in UTC."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from app.core.timing import describe_local
from app.core.waiting import describe_wait, describe_zone_fallback

NY = ZoneInfo("America/New_York")
LONDON = ZoneInfo("Europe/London")
TOKYO = ZoneInfo("Asia/Tokyo")
UTC_ZONE = ZoneInfo("UTC")
OFFICE = {
    "weekdays": ["mon", "tue", "wed", "thu", "fri"],
    "start": "09:00",
    "end": "17:00",
    "timezone": "recipient",
}
MONDAY_9_NY = datetime(2026, 12, 7, 14, 0, tzinfo=UTC)
LOCAL_MONDAY = "Mon 7 Dec 09:00 America/New_York, 14:00 UTC"


# --- describe_local ------------------------------------------------------------------------


def test_local_then_utc() -> None:
    assert describe_local(MONDAY_9_NY, NY) == LOCAL_MONDAY


def test_utc_zone_is_said_once() -> None:
    assert describe_local(MONDAY_9_NY, UTC_ZONE) == "Mon 7 Dec 14:00 UTC"
    assert describe_local(MONDAY_9_NY, ZoneInfo("Etc/UTC")) == "Mon 7 Dec 14:00 UTC"


def test_utc_date_is_given_when_it_differs() -> None:
    late = datetime(2026, 12, 7, 20, 0, tzinfo=NY)  # 01:00Z on Tuesday
    assert describe_local(late, NY) == "Mon 7 Dec 20:00 America/New_York, Tue 8 Dec 01:00 UTC"
    tokyo = datetime(2026, 12, 7, 8, 0, tzinfo=TOKYO)  # 23:00Z on Sunday
    assert describe_local(tokyo, TOKYO) == "Mon 7 Dec 08:00 Asia/Tokyo, Sun 6 Dec 23:00 UTC"


def test_any_aware_input_is_shown_in_the_given_zone() -> None:
    same = MONDAY_9_NY.astimezone(timezone(timedelta(hours=5, minutes=30)))
    assert describe_local(same, NY) == LOCAL_MONDAY


def test_daylight_saving_is_visible_in_the_utc_part() -> None:
    summer = datetime(2026, 7, 6, 9, 0, tzinfo=LONDON)
    assert describe_local(summer, LONDON) == "Mon 6 Jul 09:00 Europe/London, 08:00 UTC"
    winter = datetime(2026, 12, 7, 9, 0, tzinfo=LONDON)
    assert describe_local(winter, LONDON) == "Mon 7 Dec 09:00 Europe/London, 09:00 UTC"


def test_naive_moment_is_refused() -> None:
    with pytest.raises(ValueError, match="no time zone"):
        describe_local(datetime(2026, 12, 7, 14, 0), NY)


# --- describe_wait: delays -----------------------------------------------------------------


def test_delay_with_a_weekday_window() -> None:
    config = {"duration": "2 days", "window": OFFICE, "if_window_missed": "next_window"}
    assert (
        describe_wait("delay", config, MONDAY_9_NY, NY)
        == "waiting for the weekday window: Mon 7 Dec 09:00 America/New_York, 14:00 UTC"
    )


@pytest.mark.parametrize(
    ("weekdays", "name"),
    [
        (None, "daily window"),
        (["sat", "sun"], "weekend window"),
        (["mon", "wed", "fri"], "Mon, Wed and Fri window"),
        (["tue"], "Tue window"),
    ],
)
def test_other_windows_are_named_by_their_days(weekdays: list[str] | None, name: str) -> None:
    window: dict[str, Any] = {"start": "09:00", "end": "17:00"}
    if weekdays is not None:
        window["weekdays"] = weekdays
    text = describe_wait("delay", {"duration": "1 day", "window": window}, MONDAY_9_NY, NY)
    assert text == f"waiting for the {name}: {LOCAL_MONDAY}"


def test_window_in_its_own_zone_says_so() -> None:
    config = {"duration": "1 day", "window": {**OFFICE, "timezone": "Europe/Paris"}}
    text = describe_wait("delay", config, MONDAY_9_NY, NY)
    assert text == f"waiting for the weekday window (Europe/Paris): {LOCAL_MONDAY}"


def test_plain_delay() -> None:
    sunday = datetime(2026, 12, 6, 15, 0, tzinfo=UTC)
    assert (
        describe_wait("delay", {"duration": "2 days"}, sunday, LONDON)
        == "waiting 2 days: until Sun 6 Dec 15:00 Europe/London, 15:00 UTC"
    )


def test_iso_durations_are_spelled_out() -> None:
    text = describe_wait("delay", {"duration": "P1DT2H"}, MONDAY_9_NY, NY)
    assert text == f"waiting 1 day 2 hours: until {LOCAL_MONDAY}"


def test_until_weekday() -> None:
    config = {"until": "weekday", "weekday": "monday", "time": "9:00"}
    assert (
        describe_wait("delay", config, MONDAY_9_NY, NY)
        == f"waiting until Monday 09:00: {LOCAL_MONDAY}"
    )
    paris = {**config, "timezone": "Europe/Paris"}
    assert describe_wait("delay", paris, MONDAY_9_NY, NY) == (
        f"waiting until Monday 09:00 Europe/Paris: {LOCAL_MONDAY}"
    )


def test_until_datetime() -> None:
    naive = {"until": "datetime", "at": "2026-12-07T09:00:00"}
    assert describe_wait("delay", naive, MONDAY_9_NY, NY) == (
        f"waiting until 7 Dec 2026 09:00: {LOCAL_MONDAY}"
    )
    offset = {"until": "datetime", "at": "2026-12-07T19:30:00+05:30"}
    assert describe_wait("delay", offset, MONDAY_9_NY, NY) == (
        f"waiting until 7 Dec 2026 19:30 UTC+05:30: {LOCAL_MONDAY}"
    )
    zulu = {"until": "datetime", "at": "2026-12-07T14:00:00Z"}
    assert describe_wait("delay", zulu, MONDAY_9_NY, NY) == (
        f"waiting until 7 Dec 2026 14:00 UTC: {LOCAL_MONDAY}"
    )


def test_until_field() -> None:
    config = {"until": "field", "field": "webinar_at", "offset": "-1 day"}
    assert describe_wait("delay", config, MONDAY_9_NY, NY) == (
        f"waiting until webinar_at -1 day: {LOCAL_MONDAY}"
    )
    bare = {"until": "field", "field": "webinar_at"}
    assert (
        describe_wait("delay", bare, MONDAY_9_NY, NY) == f"waiting until webinar_at: {LOCAL_MONDAY}"
    )


# --- describe_wait: wait_until -------------------------------------------------------------


def test_wait_until_an_event() -> None:
    config = {"type": "wait_until", "conditions": [{"event": "user_login", "timeout": "7 days"}]}
    timeout = datetime(2026, 12, 12, 10, 0, tzinfo=UTC)
    assert (
        describe_wait("wait_until", config, timeout, UTC_ZONE)
        == "waiting for user_login until Sat 12 Dec 10:00 UTC"
    )


def test_wait_until_lists_every_condition() -> None:
    config = {
        "conditions": [
            {"event": "user_login", "timeout": "7 days"},
            {"field": "company_size", "timeout": "7 days"},
            {
                "event": "clicked_link",
                "email_step_id": "step_1",
                "link_url_contains": "/book-demo",
                "timeout": "3 days",
            },
            {"event": "replied", "email_step_id": "step_1", "timeout": "3 days"},
        ]
    }
    assert describe_wait("wait_until", config, MONDAY_9_NY, NY) == (
        "waiting for user_login, a change to company_size, "
        "clicked_link on step_1 (link containing /book-demo) or replied on step_1 "
        f"until {LOCAL_MONDAY}"
    )


# --- describe_wait: nothing to wait for, odd configs ----------------------------------------


@pytest.mark.parametrize("step_type", ["delay", "wait_until", "email"])
def test_no_next_time_is_due_now(step_type: str) -> None:
    assert describe_wait(step_type, {"duration": "2 days"}, None, NY) == "due now"


@pytest.mark.parametrize(
    ("step_type", "config"),
    [
        ("delay", {}),
        ("delay", {"until": "weekday", "weekday": "someday", "time": "09:00"}),
        ("delay", {"duration": "soon"}),
        ("wait_until", {"conditions": [{"timeout": "1 day"}]}),
        ("email", {"subject": "Hi"}),
    ],
)
def test_odd_configs_still_say_until_when(step_type: str, config: dict[str, Any]) -> None:
    assert describe_wait(step_type, config, MONDAY_9_NY, NY) == f"waiting until {LOCAL_MONDAY}"


def test_wait_until_without_conditions() -> None:
    text = describe_wait("wait_until", {"conditions": []}, MONDAY_9_NY, NY)
    assert text == f"waiting for its conditions until {LOCAL_MONDAY}"


# --- describe_zone_fallback ----------------------------------------------------------------


def test_zone_fallback_names_the_refused_zone() -> None:
    assert (
        describe_zone_fallback(("EST",), NY)
        == "time zone 'EST' is not valid; used America/New_York"
    )


def test_zone_fallback_with_several_refusals() -> None:
    text = describe_zone_fallback(("America/New_Yrok", "Not/AZone"), UTC_ZONE)
    assert text == "time zones 'America/New_Yrok' and 'Not/AZone' are not valid; used UTC"


def test_no_refusal_no_message() -> None:
    assert describe_zone_fallback((), NY) is None
