"""Branch conditions, pure: every condition type and operator, combinators, incompatible
types, lookback windows, and the random split's determinism and distribution."""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from app.core.conditions import Facts, compare, evaluate, needs, split_label
from app.core.waits import SeenEvent

NOW = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)
ENROLLED = NOW - timedelta(days=10)
OWN = "enrollment-1"


def facts(**kwargs: Any) -> Facts:
    kwargs.setdefault("enrollment_id", OWN)
    kwargs.setdefault("enrolled_at", ENROLLED)
    return Facts(**kwargs)


def seen(kind: str, ago: timedelta, enrollment: str | None = OWN, **props: Any) -> SeenEvent:
    return SeenEvent(kind, props, NOW - ago, enrollment)


# --- field operators --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("actual", "op", "expected", "result"),
    [
        (250, "eq", 250, True),
        (250, "eq", "250", True),  # a numeric string compares as a number
        ("Acme", "eq", "Acme", True),
        ("Acme", "eq", "acme", False),
        (True, "eq", True, True),
        (True, "eq", 1, False),  # booleans are not numbers
        (None, "eq", 1, False),
        (250, "neq", 100, True),
        (250, "neq", 250, False),
        (None, "neq", "x", True),  # a missing field is not equal
        (250, "gt", 100, True),
        (100, "gt", 100, False),
        (100, "gte", 100, True),
        (99.5, "lt", 100, True),
        (100, "lte", 100, True),
        (101, "lte", 100, False),
        ("250", "gt", 100, True),
        ("2026-12-01", "lt", "2026-12-07", True),  # ISO dates compare as text
        ("Acme Corp", "contains", "acme", True),
        ("Acme Corp", "contains", "globex", False),
        (["vip", "beta"], "contains", "vip", True),
        (["vip", "beta"], "contains", "alpha", False),
        ("x", "exists", None, True),
        (0, "exists", None, True),
        ("", "exists", None, False),
        (None, "exists", None, False),
    ],
)
def test_field_operators(actual: Any, op: str, expected: Any, result: bool) -> None:
    assert compare(actual, op, expected) is result


@pytest.mark.parametrize(
    ("actual", "op", "expected"),
    [
        ("big", "gt", 100),
        ({"a": 1}, "gt", 1),
        ([1, 2], "lt", 3),
        (True, "gt", 0),
        (None, "gt", 0),
        (250, "contains", "5"),
        ({"a": 1}, "contains", "a"),
        (100, "lte", None),
        (float("nan"), "lt", 1),
        ("NaN", "gt", 0),
    ],
)
def test_incompatible_types_are_false_never_an_error(actual: Any, op: str, expected: Any) -> None:
    assert compare(actual, op, expected) is False


def test_an_operator_outside_the_allowlist_is_false() -> None:
    assert compare(1, "__class__", 1) is False
    condition = {"type": "field", "field": "n", "op": "startswith", "value": "x"}
    assert evaluate(condition, facts(fields={"n": "xyz"}), NOW) is False


def test_field_condition_reads_the_contacts_fields_and_dotted_paths() -> None:
    f = facts(fields={"company_size": 250, "address": {"country": "FR"}})
    assert evaluate({"type": "field", "field": "company_size", "op": "gte", "value": 100}, f, NOW)
    assert evaluate(
        {"type": "field", "field": "address.country", "op": "eq", "value": "FR"}, f, NOW
    )
    assert not evaluate({"type": "field", "field": "missing", "op": "exists"}, f, NOW)
    assert not evaluate({"type": "field", "field": "missing", "op": "gt", "value": 1}, f, NOW)


# --- tags and segments ------------------------------------------------------------------


def test_tag_and_segment_membership() -> None:
    f = facts(tags=frozenset({"High Intent"}), segments=frozenset({"Enterprise"}))
    assert evaluate({"type": "tag", "tag": "High Intent"}, f, NOW)
    assert not evaluate({"type": "tag", "tag": "Churned"}, f, NOW)
    assert evaluate({"type": "segment", "segment": "Enterprise"}, f, NOW)
    assert not evaluate({"type": "segment", "segment": "SMB"}, f, NOW)
    assert not evaluate({"type": "unknown"}, f, NOW)


# --- combinators ------------------------------------------------------------------------


def test_nested_all_any_not() -> None:
    f = facts(tags=frozenset({"a"}), fields={"n": 5})
    tag_a, tag_b = {"type": "tag", "tag": "a"}, {"type": "tag", "tag": "b"}
    big = {"type": "field", "field": "n", "op": "gt", "value": 3}
    assert evaluate({"all": [tag_a, big]}, f, NOW)
    assert not evaluate({"all": [tag_a, tag_b]}, f, NOW)
    assert evaluate({"any": [tag_b, big]}, f, NOW)
    assert not evaluate({"any": [tag_b, {"not": big}]}, f, NOW)
    assert evaluate({"not": tag_b}, f, NOW)
    nested = {"all": [{"any": [tag_b, {"not": {"not": tag_a}}]}, {"not": {"all": [tag_a, tag_b]}}]}
    assert evaluate(nested, f, NOW)
    assert not evaluate({"not": nested}, f, NOW)


# --- custom events ----------------------------------------------------------------------


def test_event_within_the_lookback_counts_and_older_does_not() -> None:
    condition = {"type": "event", "event": "visited_pricing", "lookback_window": "7 days"}
    assert evaluate(condition, facts(events=[seen("visited_pricing", timedelta(days=6))]), NOW)
    assert not evaluate(condition, facts(events=[seen("visited_pricing", timedelta(days=8))]), NOW)
    assert not evaluate(condition, facts(events=[seen("other", timedelta(days=1))]), NOW)
    # An event stamped after `now` has not happened yet.
    assert not evaluate(
        condition, facts(events=[seen("visited_pricing", -timedelta(hours=1))]), NOW
    )


def test_event_without_lookback_counts_since_the_enrollment_began() -> None:
    condition = {"type": "event", "event": "visited_pricing"}
    assert evaluate(condition, facts(events=[seen("visited_pricing", timedelta(days=9))]), NOW)
    assert not evaluate(condition, facts(events=[seen("visited_pricing", timedelta(days=11))]), NOW)
    anytime = facts(enrolled_at=None, events=[seen("visited_pricing", timedelta(days=400))])
    assert evaluate(condition, anytime, NOW)


def test_event_properties_must_be_equal() -> None:
    condition = {"type": "event", "event": "viewed", "properties": {"page": "/pricing"}}
    assert evaluate(condition, facts(events=[seen("viewed", timedelta(1), page="/pricing")]), NOW)
    assert not evaluate(condition, facts(events=[seen("viewed", timedelta(1), page="/")]), NOW)


# --- email events -----------------------------------------------------------------------

CLICKED = {
    "type": "email_event",
    "email_step_id": "step_1",
    "event": "clicked_link",
    "link_url_contains": "/book-demo",
    "lookback_window": "3 days",
}


def click(ago: timedelta, url: str = "https://x.test/book-demo", **kwargs: Any) -> SeenEvent:
    kwargs.setdefault("email_step_id", "step_1")
    return seen("clicked_link", ago, url=url, **kwargs)


def test_email_click_on_the_link_of_this_enrollments_email() -> None:
    assert evaluate(CLICKED, facts(events=[click(timedelta(days=1))]), NOW)
    assert not evaluate(CLICKED, facts(events=[click(timedelta(days=4))]), NOW)  # lookback
    assert not evaluate(CLICKED, facts(events=[click(timedelta(1), url="https://x.test/")]), NOW)
    assert not evaluate(CLICKED, facts(events=[click(timedelta(1), email_step_id="s2")]), NOW)
    other = SeenEvent("clicked_link", click(timedelta(1)).properties, NOW, "enrollment-2")
    assert not evaluate(CLICKED, facts(events=[other]), NOW)


def test_bot_clicks_never_count() -> None:
    bot = SeenEvent("bot_click", click(timedelta(hours=1)).properties, NOW, OWN)
    assert not evaluate(CLICKED, facts(events=[bot]), NOW)
    anything = {"type": "event", "event": "bot_click"}
    assert not evaluate(anything, facts(events=[bot]), NOW)


@pytest.mark.parametrize("kind", ["opened", "replied", "bounced"])
def test_other_email_events(kind: str) -> None:
    condition = {"type": "email_event", "email_step_id": "step_1", "event": kind}
    event = seen(kind, timedelta(hours=2), email_step_id="step_1")
    assert evaluate(condition, facts(events=[event]), NOW)
    assert not evaluate({**condition, "event": "opened" if kind != "opened" else "replied"},
                        facts(events=[event]), NOW)  # fmt: skip


# --- what the processor loads -----------------------------------------------------------


def test_needs_collects_event_kinds_lookbacks_and_segments() -> None:
    condition = {
        "any": [
            CLICKED,
            {"not": {"type": "event", "event": "visited", "lookback_window": "2 hours"}},
            {"all": [{"type": "segment", "segment": "Enterprise"}, {"type": "tag", "tag": "x"}]},
        ]
    }
    found = needs(condition)
    assert found.event_kinds == {"clicked_link", "visited"}
    assert found.lookback is not None and found.lookback >= timedelta(days=3)
    assert found.segments and not found.since_enrollment
    assert needs({"type": "event", "event": "x"}).since_enrollment
    assert needs({"type": "tag", "tag": "x"}).event_kinds == frozenset()


# --- split ------------------------------------------------------------------------------

HALVES = [{"label": "a", "percent": 50}, {"label": "b", "percent": 50}]


def test_split_is_sticky_per_enrollment_and_step() -> None:
    ids = [str(uuid.UUID(int=i)) for i in range(50)]
    first = [split_label(HALVES, i, "split_1") for i in ids]
    assert first == [split_label(HALVES, i, "split_1") for i in ids]
    other_step = [split_label(HALVES, i, "split_2") for i in ids]
    assert first != other_step  # a second split is drawn independently


def test_a_50_50_split_over_1000_enrollments_lands_within_45_to_55_percent() -> None:
    # Fixed ids so the test is deterministic; they look like real enrollment ids.
    ids = [str(uuid.uuid5(uuid.NAMESPACE_URL, f"enrollment/{i}")) for i in range(1000)]
    counts = Counter(split_label(HALVES, i, "split") for i in ids)
    assert set(counts) == {"a", "b"}
    assert 450 <= counts["a"] <= 550 and 450 <= counts["b"] <= 550


def test_split_follows_the_cumulative_percentages() -> None:
    paths = [
        {"label": "x", "percent": 10},
        {"label": "y", "percent": 20},
        {"label": "z", "percent": 70},
    ]
    counts = Counter(split_label(paths, str(uuid.UUID(int=i)), "s") for i in range(3000))
    assert 200 <= counts["x"] <= 400
    assert 450 <= counts["y"] <= 750
    assert 1950 <= counts["z"] <= 2250
    assert split_label([{"label": "all", "percent": 100}], "e", "s") == "all"
