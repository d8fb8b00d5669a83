"""Sequence variables at run time: `settings.variables` read once per graph version, for
`until: field` delays naming `sequence.<name>` and for `{{ sequence.<name> }}` in templates.

Pure and forgiving: stored settings were validated when saved (format/variables.py), but a
value this code cannot read is treated as unset (the checklist reports it), never raised.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from app.core import timing  # module access: timing reads `variable_name` from here

PREFIX = "sequence."
_MONTHS = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip
_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


@dataclass(frozen=True)
class SequenceVariable:
    """One variable: its type, its value as stored (None while unset) and, for a
    date-time, the zone its wall-clock value is read in."""

    type: str
    value: Any
    zone: ZoneInfo

    @property
    def instant(self) -> datetime | None:
        """A date-time variable's instant in UTC; None when unset, unreadable or not one."""
        if self.type != "datetime" or not isinstance(self.value, str):
            return None
        try:
            parsed = datetime.fromisoformat(self.value.strip())
        except ValueError:
            return None
        if parsed.tzinfo is None:
            return timing.local_to_utc(parsed, self.zone)
        return parsed.astimezone(UTC)

    @property
    def is_set(self) -> bool:
        if self.type == "datetime":
            return self.instant is not None
        return self.value is not None and self.value != ""

    def text(self) -> str:
        """As a template shows it: a date-time in its own zone, 'Tuesday 10 March 2026,
        17:00 (America/New_York)'; unset as ''."""
        if self.type == "datetime":
            instant = self.instant
            if instant is None:
                return ""
            local = instant.astimezone(self.zone)
            return (
                f"{_DAYS[local.weekday()]} {local.day} {_MONTHS[local.month - 1]} {local.year}, "
                f"{local:%H:%M} ({self.zone.key})"
            )
        return "" if self.value is None else str(self.value)


def sequence_variables(
    settings: Mapping[str, Any] | None,
) -> dict[str, SequenceVariable]:
    """The variables of a sequence's `settings`; a date-time without a zone of its own is
    read in the sequence's `timezone` (UTC when that is unset)."""
    settings = settings or {}
    raw = settings.get("variables")
    if not isinstance(raw, Mapping):
        return {}
    default = timing.load_zone(settings.get("timezone")) or ZoneInfo("UTC")
    found = {}
    for name, spec in raw.items():
        if isinstance(spec, Mapping):
            kind, value = str(spec.get("type") or "text"), spec.get("value")
            zone = timing.load_zone(spec.get("timezone")) or default
        else:
            kind = "number" if isinstance(spec, int | float) else "text"
            value, zone = spec, default
        found[str(name)] = SequenceVariable(kind, value, zone)
    return found


def variable_name(field: Any) -> str | None:
    """'webinar_at' for a delay's `field: sequence.webinar_at`; None for a contact field."""
    if isinstance(field, str) and field.startswith(PREFIX):
        return field[len(PREFIX) :]
    return None


def template_values(settings: Mapping[str, Any] | None) -> dict[str, str]:
    """What `{{ sequence.<name> }}` shows, by name."""
    return {name: variable.text() for name, variable in sequence_variables(settings).items()}
