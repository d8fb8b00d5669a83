"""Business days ("3 business days" skips Saturday and Sunday in the recipient's zone,
keeping the local time) and the sequence's sending hours (every email, the first too,
waits for them; the queued email keeps to them)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from app.core.durations import Duration, parse_duration
from app.core.engine import Graph, Position, advance
from app.core.timing import add_duration, delay_due, subtract_duration
from tests.core.test_engine import step

NY = ZoneInfo("America/New_York")
TOKYO = ZoneInfo("Asia/Tokyo")
OFFICE = {"weekdays": ["mon", "tue", "wed", "thu", "fri"], "start": "09:00", "end": "17:00"}


def local(zone: ZoneInfo, *parts: int) -> datetime:
    return datetime(*parts, tzinfo=zone).astimezone(UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("3 business days", Duration(business_days=3)),
        ("1 business day", Duration(business_days=1)),
        ("2 working days 4 hours", Duration(business_days=2, seconds=4 * 3600)),
        ("5 weekdays", Duration(business_days=5)),
    ],
)
def test_business_days_are_a_unit_of_their_own(text: str, expected: Duration) -> None:
    assert parse_duration(text) == expected
    assert str(parse_duration("3 business days")) == "3 business days"


def test_three_business_days_after_friday_10_is_wednesday_10_in_the_recipients_zone() -> None:
    friday = local(NY, 2026, 12, 4, 10, 0)
    assert add_duration(friday, parse_duration("3 business days"), NY) == local(
        NY, 2026, 12, 9, 10, 0
    )
    due = delay_due({"duration": "3 business days"}, friday, NY)
    assert due.astimezone(NY).strftime("%a %H:%M") == "Wed 10:00"


@pytest.mark.parametrize(
    ("start", "count", "expected"),
    [
        ((2026, 12, 5, 10), 1, (2026, 12, 7, 10)),  # Saturday + 1 = Monday
        ((2026, 12, 6, 10), 5, (2026, 12, 11, 10)),  # Sunday + 5 = Friday
        ((2026, 12, 2, 10), 5, (2026, 12, 9, 10)),  # Wednesday + 5 = Wednesday
        ((2026, 12, 4, 10), 10, (2026, 12, 18, 10)),  # Friday + 10 = Friday, 2 weeks on
    ],
)
def test_business_days_skip_weekends_wherever_they_start(start, count, expected) -> None:
    assert add_duration(local(TOKYO, *start), Duration(business_days=count), TOKYO) == local(
        TOKYO, *expected
    )


def test_business_days_keep_the_local_time_across_a_dst_change() -> None:
    friday = local(NY, 2027, 3, 12, 10, 0)  # clocks go forward on Sunday 14 March
    monday = add_duration(friday, Duration(business_days=1), NY)
    assert monday.astimezone(NY).strftime("%a %d %H:%M") == "Mon 15 10:00"
    assert monday - friday == timedelta(days=3, hours=-1)


def test_an_offset_before_a_date_counts_business_days_back() -> None:
    monday = local(NY, 2026, 12, 7, 10, 0)
    assert subtract_duration(monday, Duration(business_days=1), NY) == local(NY, 2026, 12, 4, 10)


def hours_graph() -> Graph:
    steps = [
        step("e1", "email", {"subject": "one", "body": "b"}, to="wait"),
        step("wait", "delay", {"duration": "1 day"}, to="e2"),
        step("e2", "email", {"subject": "two", "body": "b"}),
    ]
    return Graph("e1", {s.id: s for s in steps}, sending_hours=OFFICE)


def test_the_first_email_of_a_run_enrolled_on_saturday_waits_for_monday_9_local() -> None:
    for zone in (NY, TOKYO):
        saturday = local(zone, 2026, 12, 5, 20, 0)
        first = advance(hours_graph(), Position("e1", None, {}, zone), saturday)
        assert first.emails == [] and first.step_id == "e1"
        assert first.next_execution_at == local(zone, 2026, 12, 7, 9, 0)
        monday = advance(hours_graph(), Position("e1", saturday, {}, zone), first.next_execution_at)
        [queued] = monday.emails
        assert queued.send_window == {"window": OFFICE, "zone": zone.key}


def test_an_email_after_a_delay_that_ends_at_night_waits_for_the_morning() -> None:
    monday_night = local(NY, 2026, 12, 7, 22, 0)
    out = advance(
        hours_graph(), Position("wait", monday_night - timedelta(days=1), {}, NY), monday_night
    )
    assert out.step_id == "e2" and out.emails == []
    assert out.next_execution_at == local(NY, 2026, 12, 8, 9, 0)
