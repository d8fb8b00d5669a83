"""Whole numbers from query strings and headers, refused with 400 naming the parameter when
they are not numbers or lie outside what the database and the pages can use."""

from __future__ import annotations

from werkzeug.exceptions import BadRequest

INT32_MAX = 2**31 - 1  # PostgreSQL `integer`: versions, positions, offsets stay below it
MAX_PAGE = 1_000_000


class ParameterError(BadRequest):
    """A 400 naming the query parameter or header that was refused."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def bounded_int(raw: str | None, name: str, default: int, lowest: int, highest: int) -> int:
    """`raw` as a whole number in [lowest, highest]; `default` when it is absent or blank."""
    if raw is None or not raw.strip():
        return default
    text = raw.strip()
    digits = text[1:] if text[:1] in "+-" else text
    if not (digits.isascii() and digits.isdigit()):
        raise ParameterError(name, f"{name} must be a whole number")
    # Compare lengths first: a 5,000-digit number is out of range without converting it.
    value = int(text) if len(digits) <= len(str(max(abs(lowest), abs(highest)))) else None
    if value is None or not lowest <= value <= highest:
        raise ParameterError(name, f"{name} must be between {lowest} and {highest}")
    return value


def page_number(raw: str | None) -> int:
    """A pager's `page` argument: 1 when absent."""
    return bounded_int(raw, "page", 1, 1, MAX_PAGE)
