"""Durations: the accepted spellings, their canonical form, and the refusals."""

import pytest

from app.core.durations import MAX_DAYS, Duration, parse_duration, parse_signed_duration

HOUR = 3600


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30 minutes", Duration(seconds=30 * 60)),
        ("2 hours", Duration(seconds=2 * HOUR)),
        ("2 days", Duration(days=2)),
        ("1 week", Duration(days=7)),
        ("90 days", Duration(days=90)),
        ("1 day", Duration(days=1)),
        ("45 seconds", Duration(seconds=45)),
        ("1 day 2 hours", Duration(days=1, seconds=2 * HOUR)),
        ("1 Day, 2 Hours and 5 mins", Duration(days=1, seconds=2 * HOUR + 300)),
        ("2 DAYS", Duration(days=2)),
        ("1 hours", Duration(seconds=HOUR)),
        ("3 day", Duration(days=3)),
        ("2 weeks 1 day", Duration(days=15)),
        ("  90 min ", Duration(seconds=90 * 60)),
        ("24 hours", Duration(seconds=24 * HOUR)),
        ("0 minutes", Duration()),
        ("0 days", Duration()),
        ("P2D", Duration(days=2)),
        ("PT4H", Duration(seconds=4 * HOUR)),
        ("P1W", Duration(days=7)),
        ("P1DT2H30M", Duration(days=1, seconds=2 * HOUR + 30 * 60)),
        ("PT1M", Duration(seconds=60)),
        ("pt45s", Duration(seconds=45)),
    ],
)
def test_accepted_durations(text: str, expected: Duration) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "2 dayz",
        "1.5 hours",
        "2",
        "days",
        "hours 2",
        "2 days 3",
        "",
        "   ",
        "P",
        "PT",
        "P2DT",
        "P1.5D",
    ],
)
def test_garbage_is_refused_with_examples(text: str) -> None:
    with pytest.raises(ValueError, match=r"is not a duration such as '2 days' or 'PT4H'|required"):
        parse_duration(text)


@pytest.mark.parametrize("text", ["1 month", "2 Months", "1 year", "P1M", "P1Y2D", "P1Y"])
def test_months_and_years_are_refused_as_ambiguous(text: str) -> None:
    with pytest.raises(ValueError, match="months or years"):
        parse_duration(text)


def test_negative_is_refused() -> None:
    with pytest.raises(ValueError, match="negative"):
        parse_duration("-1 day")


def test_absurdly_long_is_refused() -> None:
    with pytest.raises(ValueError, match=f"{MAX_DAYS} days"):
        parse_duration(f"{MAX_DAYS + 1} days")


def test_hours_stay_absolute_and_days_stay_calendar() -> None:
    """24 hours and 1 day differ across DST, so neither is folded into the other."""
    assert parse_duration("24 hours") != parse_duration("1 day")
    assert parse_duration("24 hours").total_seconds_nominal() == 86400
    assert parse_duration("1 day").total_seconds_nominal() == 86400


@pytest.mark.parametrize(
    ("duration", "text"),
    [
        (Duration(days=2), "2 days"),
        (Duration(days=1, seconds=4 * HOUR), "1 day 4 hours"),
        (Duration(seconds=30 * 60), "30 minutes"),
        (Duration(days=7), "7 days"),
        (Duration(seconds=HOUR + 61), "1 hour 1 minute 1 second"),
        (Duration(), "0 minutes"),
    ],
)
def test_canonical_string_parses_back(duration: Duration, text: str) -> None:
    assert str(duration) == text
    assert parse_duration(str(duration)) == duration


def test_nominal_seconds_for_sorting() -> None:
    assert parse_duration("P1DT2H").total_seconds_nominal() == 86400 + 7200


def test_duration_itself_refuses_negative_parts() -> None:
    with pytest.raises(ValueError, match="negative"):
        Duration(days=-1)


@pytest.mark.parametrize(
    ("text", "sign", "magnitude"),
    [("-1 day", -1, Duration(days=1)), ("+2 hours", 1, Duration(seconds=2 * HOUR))],
)
def test_signed_offsets(text: str, sign: int, magnitude: Duration) -> None:
    assert parse_signed_duration(text) == (sign, magnitude)


@pytest.mark.parametrize("text", ["-1 dayz", "--1 day", "-+1 day", "-"])
def test_signed_offsets_still_refuse_garbage(text: str) -> None:
    with pytest.raises(ValueError, match=r"not a duration|required") as caught:
        parse_signed_duration(text)
    assert text in str(caught.value) or text == "-"
