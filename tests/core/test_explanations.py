"""Decisions explained, pure: each leaf condition's answer with the event time or the field
value it saw, the combinators, the caps on leaves and values, and the words stored
explanations are told in (step names, the contact's zone)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from app.core import decisions
from app.core.conditions import (
    MAX_LEAVES,
    MAX_TEXT,
    Facts,
    describe,
    describe_leaf,
    evaluate,
    explain,
)
from app.core.engine import Graph, Position, Step, advance
from app.core.waits import SeenEvent

NOW = datetime(2026, 12, 7, 14, 30, tzinfo=UTC)
OWN = "enrollment-1"
PARIS = ZoneInfo("Europe/Paris")
UTC_ZONE = ZoneInfo("UTC")
NAMES = {"mail_1": "Email 1"}
CLICK = {
    "type": "email_event",
    "event": "clicked_link",
    "email_step_id": "mail_1",
    "link_url_contains": "/book-demo",
}


def facts(**kwargs: Any) -> Facts:
    kwargs.setdefault("enrollment_id", OWN)
    kwargs.setdefault("enrolled_at", NOW - timedelta(days=3))
    return Facts(**kwargs)


def click(at: datetime, url: str = "https://x.test/book-demo") -> SeenEvent:
    return SeenEvent("clicked_link", {"email_step_id": "mail_1", "url": url}, at, OWN)


def sentences(condition: dict[str, Any], seen: Facts, zone: ZoneInfo = UTC_ZONE) -> list[str]:
    found = explain(condition, seen, NOW)
    assert found.holds == evaluate(condition, seen, NOW)
    return [describe_leaf(leaf.to_json(), NAMES, zone) for leaf in found.leaves]


def test_a_click_condition_says_yes_with_the_latest_matching_click_in_the_contacts_zone():
    early, late = NOW - timedelta(hours=2), NOW - timedelta(minutes=28)
    seen = facts(events=[click(early), click(late), click(NOW, "https://x.test/other")])

    assert sentences(CLICK, seen, PARIS) == [
        "clicked_link on Email 1 containing /book-demo: yes, at Mon 7 Dec 15:02 Europe/Paris,"
        " 14:02 UTC"
    ]
    assert sentences(CLICK, facts()) == ["clicked_link on Email 1 containing /book-demo: no"]


def test_a_step_without_a_name_is_named_by_its_key():
    condition = {"type": "email_event", "event": "opened", "email_step_id": "mail_2"}
    assert sentences(condition, facts()) == ["opened on mail_2: no"]


def test_a_custom_event_names_its_properties_and_lookback():
    condition = {
        "type": "event",
        "event": "purchase",
        "properties": {"plan": "pro"},
        "lookback_window": "7 days",
    }
    seen = facts(events=[SeenEvent("purchase", {"plan": "pro"}, NOW - timedelta(days=1))])
    assert sentences(condition, seen) == [
        "purchase with plan='pro' in the last 7 days: yes, at Sun 6 Dec 14:30 UTC"
    ]


def test_a_field_condition_says_the_value_it_saw():
    condition = {"type": "field", "field": "plan", "op": "eq", "value": "pro"}
    assert sentences(condition, facts(fields={"plan": "free"})) == [
        "plan eq 'pro': no (was 'free')"
    ]
    assert sentences(condition, facts()) == ["plan eq 'pro': no (was not set)"]
    exists = {"type": "field", "field": "company.size", "op": "exists"}
    seen = facts(fields={"company": {"size": 40}})
    assert sentences(exists, seen) == ["company.size exists: yes (was 40)"]


def test_tag_and_segment_conditions_say_yes_or_no():
    seen = facts(tags=frozenset({"vip"}), segments=frozenset({"Enterprise"}))
    assert sentences({"type": "tag", "tag": "vip"}, seen) == ["tagged vip: yes"]
    assert sentences({"type": "segment", "segment": "SMB"}, seen) == ["in segment SMB: no"]


def test_all_any_and_not_explain_every_leaf_and_keep_the_verdict():
    tree = {
        "all": [
            {"type": "tag", "tag": "vip"},
            {"any": [{"not": {"type": "tag", "tag": "churned"}}, CLICK]},
        ]
    }
    seen = facts(tags=frozenset({"vip", "churned"}))
    found = explain(tree, seen, NOW)

    assert found.holds is False and found.logic == "all"
    assert describe(found.to_json(), NAMES, UTC_ZONE) == (
        "tagged vip: yes and not tagged churned: no and "
        "clicked_link on Email 1 containing /book-demo: no"
    )
    assert found.leaves[1].negated and found.leaves[1].holds


def test_a_large_tree_keeps_twenty_leaves_and_counts_the_rest():
    tree = {"any": [{"type": "tag", "tag": f"t{i}"} for i in range(50)]}
    found = explain(tree, facts(tags=frozenset({"t49"})), NOW)

    assert found.holds is True  # the 50th leaf decides, even though it is not kept
    assert len(found.leaves) == MAX_LEAVES
    assert found.to_json()["omitted"] == 30
    assert describe(found.to_json(), NAMES, UTC_ZONE).endswith("or 30 more conditions")


def test_long_values_are_cut_in_the_stored_explanation():
    condition = {"type": "field", "field": "bio", "op": "contains", "value": "y" * 500}
    stored = explain(condition, facts(fields={"bio": "x" * 5000}), NOW).to_json()

    leaf = stored["leaves"][0]
    assert len(leaf["seen"]) == MAX_TEXT and leaf["seen"].endswith("…")
    assert len(leaf["condition"]["value"]) == MAX_TEXT
    listed = explain(condition, facts(fields={"bio": list(range(100))}), NOW).to_json()
    assert listed["leaves"][0]["seen"] == list(range(10))


def test_a_wait_and_a_split_tell_their_decision():
    met = decisions.wait_met({**CLICK, "timeout": "3 days"}, click(NOW - timedelta(minutes=28)))
    assert decisions.describe(met, NAMES, UTC_ZONE) == (
        "clicked_link on Email 1 containing /book-demo: met, at Mon 7 Dec 14:02 UTC"
        " (https://x.test/book-demo)"
    )
    timed_out = decisions.wait_timed_out(
        {"conditions": [{**CLICK, "timeout": "3 days"}, {"field": "plan", "timeout": "1 day"}]}
    )
    assert decisions.describe(timed_out, NAMES, UTC_ZONE) == (
        "timed out waiting for clicked_link on Email 1 containing /book-demo or a change to plan"
    )
    assert decisions.describe(decisions.split(42, "b"), NAMES, UTC_ZONE) == (
        "bucket 42 of 100: path b"
    )


def test_a_branch_taken_by_the_engine_carries_its_explanation():
    field = {"type": "field", "field": "plan", "op": "eq", "value": "pro"}
    steps = {
        "br": Step("br", "check", "branch", {"condition": field}, {"true": "a", "false": "b"}),
        "a": Step("a", "a", "end", {}, {}),
        "b": Step("b", "b", "end", {}, {}),
    }
    graph = Graph("br", steps)
    position = Position("br", None, {}, UTC_ZONE, fields={"plan": "free"}, enrollment_id=OWN)

    taken = advance(graph, position, NOW).taken[0]

    assert taken.outcome == "false"
    assert taken.decision == {
        "kind": "condition",
        "holds": False,
        "leaves": [{"condition": field, "result": False, "seen": "free"}],
    }


def test_a_wait_that_times_out_and_a_split_keep_their_decision_in_the_taken_step():
    waited = {"conditions": [{"event": "signed_up", "timeout": "1 day"}]}
    paths = {"paths": [{"label": "a", "percent": 50}, {"label": "b", "percent": 50}]}
    steps = {
        "wait": Step("wait", "wait", "wait_until", waited, {"met": "end", "timeout": "split"}),
        "split": Step("split", "split", "split", paths, {"a": "end", "b": "end"}),
        "end": Step("end", "end", "end", {}, {}),
    }
    since = NOW - timedelta(days=2)
    position = Position("wait", since, {}, UTC_ZONE, enrollment_id=OWN)

    wait, split = advance(Graph("wait", steps), position, NOW).taken[:2]

    assert wait.outcome == "timed_out"
    assert wait.decision == {
        "kind": "wait",
        "result": "timed_out",
        "conditions": waited["conditions"],
    }
    bucket = split.decision["bucket"]
    assert split.decision == {"kind": "split", "bucket": bucket, "path": split.outcome}
    assert split.outcome == ("a" if bucket < 50 else "b")
