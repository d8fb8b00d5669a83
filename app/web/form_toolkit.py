"""The panels' form toolkit: flat form values as typed, readers, problem placement and rows.

The builder's panels are plain HTML forms re-rendered by the server, so every value travels
as text under a flat, dotted name (`paths.0.label`, `cond.items.1.field`). Reading a form
builds a config, then checks it with the definition's own models, so a panel accepts
exactly what the importer accepts; each problem is put back next to the field it concerns.
What one step type's form holds lives in `app/web/steps/<type>.py`.

Values of `field` conditions, `update_field` actions and event properties are typed text:
numbers (`42`, `3.5`), `true`, `false`, `null`, JSON lists and objects are read as JSON,
`"quoted"` text is that text (so `"42"` stays a string), anything else is kept as text,
and an empty box means no value.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any
from zoneinfo import available_timezones

from pydantic import JsonValue
from werkzeug.datastructures import MultiDict

from app.core.graph import Problem

Row = tuple[tuple[str, str], ...]
"""A new row's fields and their starting values, relative to the row (`(("label", ""),)`)."""
PROPERTY_ROW: Row = (("key", ""), ("value", ""))
"""A key/value row of event properties (`<prefix>.props.<n>`)."""


@dataclass
class FormData:
    """A form as shown: the values as typed (text) and at most one message per field.

    Templates ask `error(name)` where they render a field; messages no field asked for are
    left for `leftover_errors()`, shown near the Save button so none is ever hidden.
    """

    values: MultiDict[str, str] = field(default_factory=MultiDict)
    errors: dict[str, str] = field(default_factory=dict)
    _shown: set[str] = field(default_factory=set, init=False, repr=False)

    def get(self, name: str, default: str = "") -> str:
        return self.values.get(name, default)

    def getlist(self, name: str) -> list[str]:
        return self.values.getlist(name)

    def rows(self, prefix: str) -> list[int]:
        """Indices of the rows under `prefix` (`paths` -> [0, 1] for `paths.0.*`, `paths.1.*`)."""
        found = set()
        start = prefix + "."
        for key in self.values:
            if key.startswith(start):
                head = key[len(start) :].split(".", 1)[0]
                if head.isdigit():
                    found.add(int(head))
        return sorted(found)

    def has_error(self, name: str) -> bool:
        return name in self.errors

    def error(self, name: str) -> str | None:
        self._shown.add(name)
        return self.errors.get(name)

    def leftover_errors(self) -> list[tuple[str, str]]:
        return [(name, msg) for name, msg in self.errors.items() if name not in self._shown]

    def add_error(self, name: str, message: str) -> None:
        self.errors.setdefault(name, message)


# --- Typed values ------------------------------------------------------------------------------


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")  # Python's json would accept NaN, Infinity


def value_from_text(text: str) -> JsonValue:
    """Typed text to a JSON value (rules in the module docstring)."""
    stripped = text.strip()
    if not stripped:
        return None
    try:
        return json.loads(stripped, parse_constant=_reject_constant)
    except ValueError:
        return stripped


def value_to_text(value: Any) -> str:
    """The text that `value_from_text` reads back as `value`."""
    if value is None:
        return ""
    if isinstance(value, str) and value and value_from_text(value) == value:
        return value
    return json.dumps(value, ensure_ascii=False)


# --- Reading posted values -----------------------------------------------------------------------


class FormReader:
    """Posted values with the small conversions every form needs, and local errors."""

    def __init__(self, values: MultiDict[str, str]) -> None:
        self.form = FormData(values)

    def text(self, name: str) -> str:
        return self.form.get(name).strip()

    def long_text(self, name: str) -> str:
        """A textarea as typed; browsers send CRLF line ends."""
        return self.form.get(name).replace("\r\n", "\n")

    def optional(self, name: str) -> str | None:
        return self.text(name) or None

    def optional_long_text(self, name: str) -> str | None:
        text = self.long_text(name)
        return text if text.strip() else None

    def integer(self, name: str) -> int | str | None:
        """An int, or the text itself so the model reports it, or None when empty."""
        text = self.text(name)
        if not text:
            return None
        try:
            return int(text)
        except ValueError:
            return text

    def rows(self, prefix: str) -> list[int]:
        return self.form.rows(prefix)

    def properties(self, prefix: str, group: str = "props") -> dict[str, JsonValue] | None:
        """Key/value rows under `prefix.<group>`; None when there are none."""
        found: dict[str, JsonValue] = {}
        for index in self.rows(f"{prefix}.{group}"):
            row = f"{prefix}.{group}.{index}"
            key, value = self.text(f"{row}.key"), self.form.get(f"{row}.value")
            if not key and not value.strip():
                continue
            if not key:
                self.form.add_error(f"{row}.key", "a property needs a name")
            elif key in found:
                self.form.add_error(f"{row}.key", f"property {key!r} is given twice")
            else:
                found[key] = value_from_text(value)
        return found or None


def properties_to_form(prefix: str, properties: Any, group: str = "props") -> list[tuple[str, str]]:
    if not isinstance(properties, dict):
        return []
    pairs: list[tuple[str, str]] = []
    for index, (key, value) in enumerate(properties.items()):
        pairs += [(f"{prefix}.{group}.{index}.key", str(key))]
        pairs += [(f"{prefix}.{group}.{index}.value", value_to_text(value))]
    return pairs


def dicts(items: Any) -> list[dict[str, Any]]:
    """The rows of a stored list; an unfinished draft may hold anything, shown as blank rows."""
    return [item if isinstance(item, dict) else {} for item in items or []]


def drop_none(data: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in data.items() if value is not None}


WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def window_to_form(prefix: str, window: Any) -> list[tuple[str, str]]:
    """A window (weekdays, start, end, time zone) as a panel's boxes under `prefix`, with
    its `enabled` switch on; nothing when there is no window."""
    if not isinstance(window, dict):
        return []
    return [
        (f"{prefix}.enabled", "on"),
        *[(f"{prefix}.weekdays", str(day)) for day in window.get("weekdays") or WEEKDAYS],
        (f"{prefix}.start", clock_text(window.get("start"))),
        (f"{prefix}.end", clock_text(window.get("end"))),
        (f"{prefix}.timezone", text_of(window.get("timezone") or "recipient")),
    ]


def window_from_form(read: FormReader, prefix: str) -> dict[str, Any] | None:
    """The window the boxes under `prefix` describe (None when switched off); no day ticked
    is an error on the days."""
    if not read.form.get(f"{prefix}.enabled"):
        return None
    weekdays = [day for day in read.form.getlist(f"{prefix}.weekdays") if day]
    if not weekdays:
        read.form.add_error(f"{prefix}.weekdays", "choose at least one day")
    return {
        "weekdays": weekdays,
        "start": read.text(f"{prefix}.start"),
        "end": read.text(f"{prefix}.end"),
        "timezone": read.text(f"{prefix}.timezone") or "recipient",
    }


def clock_text(value: Any) -> str:
    """'9:00' as '09:00': what a time input shows."""
    text = text_of(value)
    return f"0{text}" if re.fullmatch(r"\d:\d\d", text) else text


def text_of(value: Any) -> str:
    """A stored value as a text box shows it; a missing one is an empty box."""
    return "" if value is None else str(value)


def place_problems(
    form: FormData, problems: Iterable[Problem], field_name: Callable[[str], str]
) -> None:
    """Attach each problem to the form field it concerns (the first one per field wins)."""
    for problem in problems:
        path = re.sub(r"\[(\d+)\]", r".\1", problem.field or "")
        form.add_error(field_name(path), problem.message)


# --- Adding and removing rows ---------------------------------------------------------------------

_OP = re.compile(r"(add|group|remove|up|down):([A-Za-z_]+(?:\.(?:\d+|[A-Za-z_]+))*)")


def apply_op(
    values: MultiDict[str, str],
    op: str,
    rows: Mapping[str, Row],
    groups: Mapping[str, Row] | None = None,
) -> MultiDict[str, str]:
    """Add, move or remove a row without saving: `add:paths`, `group:cond.items`,
    `remove:paths.1`, `up:blocks.2` (it swaps places with the row before), `down:blocks.0`.

    The form is posted with what the user typed so far, so nothing typed is lost. `rows`
    and `groups` give a new row's fields by the last name of its target (`paths`,
    `cond.items` -> `items`); other operations (and `refresh`, used when a choice changes
    which fields show) change nothing.
    """
    return compact(_changed(values, op, rows, groups or {}))


def _changed(
    values: MultiDict[str, str], op: str, rows: Mapping[str, Row], groups: Mapping[str, Row]
) -> MultiDict[str, str]:
    match = _OP.fullmatch(op)
    if match is None:
        return values
    action, target = match[1], match[2]
    if action == "remove":
        return MultiDict([(k, v) for k, v in values.items(multi=True) if not _under(k, target)])
    if action in ("up", "down"):
        return _moved(values, target, -1 if action == "up" else 1)
    new_row = (groups if action == "group" else rows).get(target.rsplit(".", 1)[-1])
    if new_row is None:
        return values
    existing = FormData(values).rows(target)
    row = f"{target}.{existing[-1] + 1 if existing else 0}"
    added = MultiDict(values)
    for key, default in new_row:
        added.add(f"{row}.{key}", default)
    return added


def _moved(values: MultiDict[str, str], row: str, step: int) -> MultiDict[str, str]:
    """The row `parent.N` swapped with its neighbour N + step (nothing at either end)."""
    parent, _, number = row.rpartition(".")
    if not number.isdigit():
        return values
    rows = FormData(values).rows(parent)
    at = rows.index(int(number)) if int(number) in rows else -1
    if at < 0 or not 0 <= at + step < len(rows):
        return values
    this, other = f"{parent}.{number}", f"{parent}.{rows[at + step]}"

    def renamed(key: str) -> str:
        for old, new in ((this, other), (other, this)):
            if _under(key, old):
                return new + key[len(old) :]
        return key

    return MultiDict([(renamed(k), v) for k, v in values.items(multi=True)])


def _under(key: str, prefix: str) -> bool:
    return key == prefix or key.startswith(prefix + ".")


def compact(values: MultiDict[str, str]) -> MultiDict[str, str]:
    """Renumber rows 0, 1, 2... in their order, so form names match list positions."""
    children: dict[tuple[str, ...], set[int]] = defaultdict(set)
    split_keys = [(key.split("."), value) for key, value in values.items(multi=True)]
    for parts, _ in split_keys:
        for index, part in enumerate(parts):
            if part.isdigit():
                children[tuple(parts[:index])].add(int(part))
    rank = {
        parent: {old: new for new, old in enumerate(sorted(found))}
        for parent, found in children.items()
    }
    renamed = []
    for parts, value in split_keys:
        new = [
            str(rank[tuple(parts[:index])][int(part)]) if part.isdigit() else part
            for index, part in enumerate(parts)
        ]
        renamed.append((".".join(new), value))
    return MultiDict(renamed)


# --- Choices -------------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def _zone_names() -> tuple[str, ...]:
    return tuple(sorted(available_timezones()))


def timezone_names() -> list[str]:
    """The IANA time zone names a time zone box suggests."""
    return list(_zone_names())
