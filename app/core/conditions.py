"""Branch conditions and random splits: pure evaluation as of one instant.

A branch is evaluated the moment a contact reaches it, against a `Facts` view of the
contact (fields, tags, segment names, recent events) and the enrollment.

Conditions (sequence format v1):
- `email_event`: this enrollment's email (`email_step_id`) was opened / clicked (with an
  optional `link_url_contains`) / replied to / bounced; matched exactly like wait_until.
- `event`: a custom event by name, with optional `properties` that must be equal.
- Both count events in [now - lookback_window, now]; without `lookback_window`, any event
  since the enrollment began (all events given, when that is unknown). `bot_click` events
  never count.
- `field`: `op` from an allowlist (eq, neq, gt, gte, lt, lte, contains, exists). Comparing
  incompatible types is false, never an error; a number and a numeric string compare as
  numbers; `neq` is the negation of `eq` (a missing field is "not equal"); `contains` is a
  case-insensitive substring test on text, or membership in a list; `exists` means the
  field has a value other than null or "".
- `segment` / `tag`: membership by exact name.
- `{"all": [...]}`, `{"any": [...]}`, `{"not": {...}}` combine them.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from app.core import waits
from app.core.events import BOT_CLICK
from app.core.timing import cached_duration, describe_local, subtract_duration

FIELD_OPS = frozenset({"eq", "neq", "gt", "gte", "lt", "lte", "contains", "exists"})
EVENT_CONDITIONS = frozenset({"event", "email_event"})
UTC_ZONE = ZoneInfo("UTC")


@dataclass(frozen=True)
class Facts:
    """What a condition may read about the contact and the enrollment."""

    fields: Mapping[str, Any] = field(default_factory=dict)
    tags: frozenset[str] = frozenset()
    segments: frozenset[str] = frozenset()
    events: Sequence[waits.SeenEvent] = ()
    enrollment_id: str | None = None
    enrolled_at: datetime | None = None
    zone: ZoneInfo = UTC_ZONE


def evaluate(condition: Mapping[str, Any], facts: Facts, now: datetime) -> bool:
    """Whether the condition holds for these facts at `now`."""
    if "all" in condition:
        return all(evaluate(c, facts, now) for c in condition["all"])
    if "any" in condition:
        return any(evaluate(c, facts, now) for c in condition["any"])
    if "not" in condition:
        return not evaluate(condition["not"], facts, now)
    kind = condition.get("type")
    if kind == "tag":
        return condition.get("tag") in facts.tags
    if kind == "segment":
        return condition.get("segment") in facts.segments
    if kind == "field":
        return compare(
            lookup(facts.fields, str(condition.get("field"))),
            str(condition.get("op")),
            condition.get("value"),
        )
    if kind in EVENT_CONDITIONS:
        return _event_happened(condition, facts, now)
    return False


def _event_happened(condition: Mapping[str, Any], facts: Facts, now: datetime) -> bool:
    return any(_matching_events(condition, facts, now))


def _matching_events(
    condition: Mapping[str, Any], facts: Facts, now: datetime
) -> Iterator[waits.SeenEvent]:
    """The events that meet an event condition at `now`, lazily (evaluation stops at one)."""
    lookback = condition.get("lookback_window")
    if lookback:
        since: datetime | None = subtract_duration(now, cached_duration(lookback), facts.zone)
    else:
        since = facts.enrolled_at
    scope = {"enrollment": {"id": facts.enrollment_id}}
    for event in facts.events:
        if event.type == BOT_CLICK or event.occurred_at > now:
            continue
        if since is not None and event.occurred_at < since:
            continue
        if waits.meets(condition, event, scope):
            yield event


def lookup(fields: Mapping[str, Any], name: str) -> Any:
    """A field's value: the key itself, else a dotted path into nested objects."""
    if name in fields:
        return fields[name]
    node: Any = fields
    for part in name.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node


def compare(actual: Any, op: str, expected: Any) -> bool:
    """One field comparison; never raises, incompatible types are simply false."""
    if op == "exists":
        return actual is not None and actual != ""
    if op == "eq":
        return _equal(actual, expected)
    if op == "neq":
        return not _equal(actual, expected)
    if op == "contains":
        return _contains(actual, expected)
    if op in ("gt", "gte", "lt", "lte"):
        pair = _comparable(actual, expected)
        if pair is None:
            return False
        left, right = pair
        if op == "gt":
            return left > right
        if op == "gte":
            return left >= right
        if op == "lt":
            return left < right
        return left <= right
    return False  # not in the allowlist


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return None
        return number if math.isfinite(number) else None
    return None


def _comparable(actual: Any, expected: Any) -> tuple[Any, Any] | None:
    """Both sides as numbers (a numeric string counts) or both as text; else None."""
    if actual is None or expected is None:
        return None
    if isinstance(actual, str) and isinstance(expected, str):
        left, right = _number(actual), _number(expected)
        return (left, right) if left is not None and right is not None else (actual, expected)
    left, right = _number(actual), _number(expected)
    if left is None or right is None:
        return None
    return left, right


def _equal(actual: Any, expected: Any) -> bool:
    if actual is None or expected is None:
        return actual is expected
    if isinstance(actual, bool) or isinstance(expected, bool):
        return isinstance(actual, bool) and isinstance(expected, bool) and actual == expected
    if isinstance(actual, str) and isinstance(expected, str):
        return actual == expected
    left, right = _number(actual), _number(expected)
    if left is not None and right is not None:
        return left == right
    return type(actual) is type(expected) and actual == expected


def _contains(actual: Any, expected: Any) -> bool:
    if isinstance(actual, str) and isinstance(expected, str):
        return expected.casefold() in actual.casefold()
    if isinstance(actual, list):
        return any(_equal(item, expected) for item in actual)
    return False


# --- Explaining a decision ------------------------------------------------------------------

MAX_LEAVES = 20
"""Leaf conditions an explanation keeps (a larger tree says how many it left out)."""
MAX_TEXT = 80
"""Characters kept of any text in an explanation (a field's value, a condition's value)."""
MAX_ITEMS = 10
"""Items kept of a list or an object in an explanation."""


@dataclass(frozen=True)
class Leaf:
    """One leaf condition as it was decided: its own truth (before any `not` above it), the
    time of the latest event that met it, the value a field condition saw."""

    condition: Mapping[str, Any]
    holds: bool
    negated: bool = False
    at: datetime | None = None
    seen: Any = None

    def to_json(self) -> dict[str, Any]:
        found: dict[str, Any] = {"condition": trim(self.condition), "result": self.holds}
        if self.negated:
            found["negated"] = True
        if self.at is not None:
            found["at"] = self.at.isoformat()
        if self.condition.get("type") == "field":
            found["seen"] = trim(self.seen)
        return found


@dataclass(frozen=True)
class Explanation:
    """Why a condition held or not: the leaves (at most MAX_LEAVES) and how many were left
    out; `logic` is the top combinator ("all", "any") or None."""

    holds: bool
    leaves: tuple[Leaf, ...]
    logic: str | None = None
    omitted: int = 0

    def to_json(self) -> dict[str, Any]:
        """What a step log keeps in its `detail`: bounded whatever the tree's size."""
        found: dict[str, Any] = {
            "kind": "condition",
            "holds": self.holds,
            "leaves": [leaf.to_json() for leaf in self.leaves],
        }
        if self.logic:
            found["logic"] = self.logic
        if self.omitted:
            found["omitted"] = self.omitted
        return found


def explain(condition: Mapping[str, Any], facts: Facts, now: datetime) -> Explanation:
    """The verdict of `evaluate` with the values it saw, leaf by leaf. Every leaf is
    evaluated (no short-circuit), so the explanation names each reason, not just the first."""
    leaves: list[Leaf] = []
    counted = [0]
    holds = _explain(condition, facts, now, False, leaves, counted)
    logic = "all" if "all" in condition else "any" if "any" in condition else None
    return Explanation(holds, tuple(leaves), logic, counted[0] - len(leaves))


def _explain(
    condition: Mapping[str, Any],
    facts: Facts,
    now: datetime,
    negated: bool,
    leaves: list[Leaf],
    counted: list[int],
) -> bool:
    if "all" in condition or "any" in condition:
        children = condition.get("all") if "all" in condition else condition.get("any")
        results = [_explain(c, facts, now, negated, leaves, counted) for c in children or []]
        return all(results) if "all" in condition else any(results)
    if "not" in condition:
        return not _explain(condition["not"], facts, now, not negated, leaves, counted)
    counted[0] += 1
    at, seen = None, None
    if condition.get("type") in EVENT_CONDITIONS:
        at = max((e.occurred_at for e in _matching_events(condition, facts, now)), default=None)
        holds = at is not None
    else:
        holds = evaluate(condition, facts, now)
        if condition.get("type") == "field":
            seen = lookup(facts.fields, str(condition.get("field")))
    if len(leaves) < MAX_LEAVES:
        leaves.append(Leaf(condition, holds, negated, at, seen))
    return holds


_trimmed: dict[str, Any] = {}
TRIM_CACHE = 4096
"""Trimmed values remembered by their text: a graph's conditions are trimmed once, not at
every branch taken."""


def trim(value: Any) -> Any:
    """A value cut down for an explanation: text to MAX_TEXT, lists and objects to
    MAX_ITEMS items, nesting to three levels. A value whose whole text is that short is
    kept as it is, uncopied (the usual case); longer ones are remembered by their text,
    since the processor explains the same conditions over and over. Treat the result as
    read-only."""
    text = repr(value)
    if len(text) <= MAX_TEXT:
        return value
    found = _trimmed.get(text)
    if found is None:
        if len(_trimmed) >= TRIM_CACHE:
            _trimmed.clear()
        found = _trimmed[text] = _trim(value, 3)
    return found


def _trim(value: Any, depth: int) -> Any:
    if isinstance(value, str):
        return value if len(value) <= MAX_TEXT else value[: MAX_TEXT - 1] + "…"
    if isinstance(value, Mapping):
        if depth == 0:
            return "{…}"
        items = list(value.items())[:MAX_ITEMS]
        return {str(k)[:MAX_TEXT]: _trim(v, depth - 1) for k, v in items}
    if isinstance(value, list | tuple):
        if depth == 0:
            return "[…]"
        return [_trim(v, depth - 1) for v in value[:MAX_ITEMS]]
    if value is None or isinstance(value, bool | int | float):
        return value
    return _trim(str(value), depth)


def phrase(condition: Mapping[str, Any], names: Mapping[str, str]) -> str:
    """A leaf condition in words; an email step is named by its name where `names` (step
    key -> name) has one, else by its key."""
    kind = condition.get("type")
    if kind == "tag":
        return f"tagged {condition.get('tag')}"
    if kind == "segment":
        return f"in segment {condition.get('segment')}"
    if kind == "field":
        subject = f"{condition.get('field')} {condition.get('op')}"
        return subject if condition.get("op") == "exists" else f"{subject} {_quoted(condition)}"
    if "field" in condition and "event" not in condition:  # a wait_until on a field
        return f"a change to {condition['field']}"
    text = str(condition.get("event"))
    step = condition.get("email_step_id")
    if step:
        text += f" on {names.get(str(step)) or step}"
    if condition.get("link_url_contains"):
        text += f" containing {condition['link_url_contains']}"
    for key, value in (condition.get("properties") or {}).items():
        text += f" with {key}={value!r}"
    if condition.get("lookback_window"):
        text += f" in the last {condition['lookback_window']}"
    return text


def _quoted(condition: Mapping[str, Any]) -> str:
    return repr(condition.get("value"))


def describe_leaf(leaf: Mapping[str, Any], names: Mapping[str, str], zone: ZoneInfo) -> str:
    """A stored leaf (`Leaf.to_json`) as a sentence: "clicked_link on Email 1 containing
    /book-demo: yes, at Mon 7 Dec 15:02 Europe/Paris, 14:02 UTC", "plan eq 'pro': no (was
    'free')". Under a `not` it reads "not tagged vip: no" (the contact is tagged)."""
    condition = leaf.get("condition") or {}
    negated = bool(leaf.get("negated"))
    words = ("not " if negated else "") + phrase(condition, names)
    text = f"{words}: {'yes' if bool(leaf.get('result')) != negated else 'no'}"
    if leaf.get("at"):
        text += f", at {describe_local(datetime.fromisoformat(leaf['at']), zone)}"
    if "seen" in leaf:
        seen = leaf["seen"]
        text += " (was not set)" if seen is None else f" (was {seen!r})"
    return text


def describe(explanation: Mapping[str, Any], names: Mapping[str, str], zone: ZoneInfo) -> str:
    """A stored explanation (`Explanation.to_json`) as one line: its leaves' sentences."""
    joiner = {"all": " and ", "any": " or "}.get(str(explanation.get("logic")), "; ")
    parts = [describe_leaf(leaf, names, zone) for leaf in explanation.get("leaves") or []]
    if explanation.get("omitted"):
        parts.append(f"{explanation['omitted']} more conditions")
    return joiner.join(parts)


# --- What the processor must load for a graph's branches ---------------------------------


@dataclass(frozen=True)
class Needs:
    """Data a set of conditions reads: event types, how far back, and segment names."""

    event_kinds: frozenset[str] = frozenset()
    lookback: timedelta | None = None  # longest lookback, generously rounded up
    since_enrollment: bool = False  # some event condition has no lookback
    segments: bool = False

    def __or__(self, other: Needs) -> Needs:
        lookbacks = [x for x in (self.lookback, other.lookback) if x is not None]
        return Needs(
            self.event_kinds | other.event_kinds,
            max(lookbacks) if lookbacks else None,
            self.since_enrollment or other.since_enrollment,
            self.segments or other.segments,
        )


def needs(condition: Mapping[str, Any]) -> Needs:
    """What evaluating this condition may read, so events are loaded once per batch."""
    if "all" in condition or "any" in condition:
        found = Needs()
        for child in condition.get("all") or condition.get("any") or []:
            found = found | needs(child)
        return found
    if "not" in condition:
        return needs(condition["not"])
    kind = condition.get("type")
    if kind == "segment":
        return Needs(segments=True)
    if kind in EVENT_CONDITIONS:
        lookback = condition.get("lookback_window")
        if not lookback:
            return Needs(frozenset({condition["event"]}), since_enrollment=True)
        span = cached_duration(lookback)
        # One extra day covers any daylight-saving shift of calendar days in the contact's zone.
        slack = timedelta(days=span.days + 1 if span.days else 0, seconds=span.seconds)
        return Needs(frozenset({condition["event"]}), slack)
    return Needs()


# --- Random split ---------------------------------------------------------------------------


def split_label(paths: Sequence[Mapping[str, Any]], enrollment_id: str, step_id: str) -> str:
    """The path this enrollment takes: sticky, from its bucket mapped onto the cumulative
    percentages."""
    return split_path(paths, split_bucket(enrollment_id, step_id))


def split_bucket(enrollment_id: str, step_id: str) -> int:
    """The enrollment's bucket at this split, 0-99: sha256(enrollment id, step id) mod 100."""
    digest = hashlib.sha256(f"{enrollment_id}:{step_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % 100


def split_path(paths: Sequence[Mapping[str, Any]], bucket: int) -> str:
    """The label of the path whose share of the cumulative percentages holds `bucket`."""
    cumulative = 0
    for path in paths:
        cumulative += int(path["percent"])
        if bucket < cumulative:
            return str(path["label"])
    return str(paths[-1]["label"])
