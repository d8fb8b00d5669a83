"""A report's date range from `?from=YYYY-MM-DD&to=YYYY-MM-DD`, refused with 400 naming the
parameter when a date is malformed or the range runs backwards."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from app.http.numbers import ParameterError

EARLIEST = date(2000, 1, 1)
LATEST = date(2999, 12, 31)
_SHAPE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


@dataclass(frozen=True)
class DateRange:
    """Whole UTC days, both ends included; None: unbounded on that side."""

    first: date | None = None
    last: date | None = None

    @property
    def since(self) -> datetime | None:
        return _midnight(self.first) if self.first else None

    @property
    def until(self) -> datetime | None:
        """The instant after the range: midnight after its last day."""
        return _midnight(self.last + timedelta(days=1)) if self.last else None

    @property
    def bounded(self) -> bool:
        return self.first is not None or self.last is not None


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def date_range(first: str | None, last: str | None) -> DateRange:
    """The range of the `from` and `to` parameters; a blank or absent one leaves that side open."""
    start, end = _day(first, "from"), _day(last, "to")
    if start and end and end < start:
        raise ParameterError("to", f"to ({end.isoformat()}) is before from ({start.isoformat()})")
    return DateRange(start, end)


def _day(raw: str | None, name: str) -> date | None:
    if raw is None or not raw.strip():
        return None
    text = raw.strip()
    try:
        day = date.fromisoformat(text) if _SHAPE.fullmatch(text) else None
    except ValueError:  # 2026-02-30
        day = None
    if day is None:
        raise ParameterError(name, f"{name} must be a date as YYYY-MM-DD, like 2026-12-07")
    if not EARLIEST <= day <= LATEST:
        raise ParameterError(name, f"{name} must lie between 2000-01-01 and 2999-12-31")
    return day
