"""Branches, splits and actions in `advance`: paths taken, step log outcomes, effects
returned for the processor, and a tag added then tested within the same pass."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from app.core.engine import Effect, Graph, Position, Step, TakenStep, advance, apply_effects
from app.core.waits import SeenEvent

UTC_ZONE = ZoneInfo("UTC")
NOW = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)


def step(step_id: str, type_: str, config: dict[str, Any] | None = None, **to: str) -> Step:
    """`to` maps labels to targets; `next` is the unlabelled one."""
    nxt = {(None if label == "next" else label): target for label, target in to.items()}
    return Step(step_id, step_id.upper(), type_, config or {}, nxt)


def graph(*steps: Step) -> Graph:
    return Graph(steps[0].id, {s.id: s for s in steps})


def email(step_id: str, **to: str) -> Step:
    return step(step_id, "email", {"subject": step_id, "body": "b"}, **to)


def branch(condition: dict[str, Any], true: str, false: str, step_id: str = "br") -> Step:
    return step(
        step_id, "branch", {"type": "branch", "condition": condition}, true=true, false=false
    )


def position(g: Graph, **kwargs: Any) -> Position:
    kwargs.setdefault("enrollment_id", "enr-1")
    return Position(g.entry_id, None, {}, UTC_ZONE, **kwargs)


def emails(out: Any) -> list[str]:
    return [t.step_id for t in out.emails]


TAGGED = {"type": "tag", "tag": "High Intent"}


def test_branch_takes_the_true_or_false_path() -> None:
    g = graph(branch(TAGGED, "yes", "no"), email("yes"), email("no"))

    tagged = advance(g, position(g, tags=frozenset({"High Intent"})), NOW)
    assert emails(tagged) == ["yes"]
    assert tagged.taken[0] == TakenStep("br", 0, "true")
    assert tagged.status == "completed"

    untagged = advance(g, position(g), NOW)
    assert emails(untagged) == ["no"]
    assert untagged.taken[0] == TakenStep("br", 0, "false")


def test_branch_on_field_segment_and_events() -> None:
    cases = [
        ({"type": "field", "field": "size", "op": "gte", "value": 100}, {"fields": {"size": 250}}),
        ({"type": "segment", "segment": "Enterprise"}, {"segments": frozenset({"Enterprise"})}),
        (
            {"type": "event", "event": "visited_pricing", "lookback_window": "7 days"},
            {"events": [SeenEvent("visited_pricing", {}, NOW - timedelta(days=1))]},
        ),
        (
            {"type": "email_event", "email_step_id": "E1", "event": "opened"},
            {
                "events": [SeenEvent("opened", {"email_step_id": "E1"}, NOW, "enr-1")],
                "enrolled_at": NOW - timedelta(days=2),
            },
        ),
    ]
    for condition, known in cases:
        g = graph(branch(condition, "yes", "no"), email("yes"), email("no"))
        assert emails(advance(g, position(g, **known), NOW)) == ["yes"], condition
        assert emails(advance(g, position(g), NOW)) == ["no"], condition


def test_a_branch_reached_after_a_delay_is_evaluated_when_the_contact_arrives() -> None:
    g = graph(
        step("wait", "delay", {"duration": "3 days"}, next="br"),
        branch({"type": "event", "event": "login", "lookback_window": "3 days"}, "yes", "no"),
        email("yes"),
        email("no"),
    )
    first = advance(g, position(g), NOW)
    assert first.step_id == "wait"
    later = NOW + timedelta(days=3)
    login = [SeenEvent("login", {}, NOW + timedelta(days=1))]
    resumed = Position("wait", first.waiting_since, first.visits, UTC_ZONE, events=login)
    assert emails(advance(g, resumed, later)) == ["yes"]
    # At the first pass the same login was still in the future: it would not have counted.
    at_once = Position("br", None, {}, UTC_ZONE, events=login)
    assert emails(advance(g, at_once, NOW)) == ["no"]


def test_split_takes_the_sticky_path_and_logs_its_label() -> None:
    paths = [{"label": "a", "percent": 50}, {"label": "b", "percent": 50}]
    g = graph(step("sp", "split", {"paths": paths}, a="ea", b="eb"), email("ea"), email("eb"))
    chosen = Counter()
    for i in range(200):
        pos = position(g, enrollment_id=f"enr-{i}")
        out = advance(g, pos, NOW)
        again = advance(g, pos, NOW + timedelta(days=1))
        assert emails(out) == emails(again)  # sticky
        label = out.taken[0].outcome
        assert emails(out) == [f"e{label}"]
        chosen[label] += 1
    assert chosen["a"] > 50 and chosen["b"] > 50


def test_actions_return_effects_and_log_applied() -> None:
    g = graph(
        step("add", "action", {"action": "add_tag", "tag": "VIP"}, next="rm"),
        step("rm", "action", {"action": "remove_tag", "tag": "Cold"}, next="set"),
        step(
            "set",
            "action",
            {"action": "update_field", "field": "stage", "value": "hot"},
            next="clr",
        ),
        step("clr", "action", {"action": "update_field", "field": "old", "value": None}, next="e"),
        email("e"),
    )
    out = advance(g, position(g, tags=frozenset({"Cold"}), fields={"old": 1}), NOW)

    assert out.status == "completed"
    assert out.effects == [
        Effect("add_tag", "add", tag="VIP"),
        Effect("remove_tag", "rm", tag="Cold"),
        Effect("update_field", "set", field="stage", value="hot"),
        Effect("update_field", "clr", field="old", value=None),
    ]
    assert [t.outcome for t in out.taken[:4]] == ["applied"] * 4
    assert apply_effects(out.effects, ["Cold", "Other"], {"old": 1, "keep": 2}) == (
        ["Other", "VIP"],
        {"keep": 2, "stage": "hot"},
    )


def test_a_tag_added_is_seen_by_a_later_branch_in_the_same_pass() -> None:
    g = graph(
        step("tag", "action", {"action": "add_tag", "tag": "High Intent"}, next="br"),
        branch(TAGGED, "yes", "no"),
        email("yes"),
        email("no"),
    )
    assert emails(advance(g, position(g), NOW)) == ["yes"]

    removed = graph(
        step("untag", "action", {"action": "remove_tag", "tag": "High Intent"}, next="br"),
        *[g.steps[s] for s in ("br", "yes", "no")],
    )
    assert emails(advance(removed, position(removed, tags=frozenset({"High Intent"})), NOW)) == [
        "no"
    ]


def test_a_field_updated_is_seen_by_a_later_branch_in_the_same_pass() -> None:
    g = graph(
        step("set", "action", {"action": "update_field", "field": "score", "value": 90}, next="br"),
        branch({"type": "field", "field": "score", "op": "gt", "value": 50}, "yes", "no"),
        email("yes"),
        email("no"),
    )
    assert emails(advance(g, position(g, fields={"score": 10}), NOW)) == ["yes"]


def test_move_to_sequence_exits_and_asks_for_the_new_enrollment() -> None:
    g = graph(
        email("e", next="mv"),
        step("mv", "action", {"action": "move_to_sequence", "sequence": "Nurture"}, next="never"),
        email("never"),
    )
    out = advance(g, position(g), NOW)
    assert out.status == "exited"
    assert out.exit_reason == "moved to sequence 'Nurture'"
    assert out.effects == [Effect("move_to_sequence", "mv", sequence="Nurture")]
    assert emails(out) == ["e"]
    assert out.taken[-1] == TakenStep("mv", 0, "applied")


def test_exit_action_still_exits_with_its_reason() -> None:
    g = graph(step("x", "action", {"action": "exit"}, next="e"), email("e"))
    out = advance(g, position(g), NOW)
    assert out.status == "exited" and out.exit_reason == "exit step 'X'"
    assert out.effects == [] and out.emails == []


def test_graph_needs_for_loading() -> None:
    g = graph(
        branch(
            {
                "all": [
                    {"type": "email_event", "email_step_id": "E", "event": "opened"},
                    {"type": "segment", "segment": "S"},
                ]
            },
            "a",
            "b",
        ),
        email("a"),
        email("b"),
    )
    assert g.needs.event_kinds == {"opened"}
    assert g.needs.segments and g.needs.since_enrollment
    plain = graph(email("a"))
    assert not plain.needs.event_kinds and not plain.needs.segments


def test_a_branch_whose_stored_condition_is_refused_fails_there_and_loads_nothing() -> None:
    g = graph(branch({"type": "segment"}, "a", "b"), email("a"), email("b"))
    assert not g.needs.event_kinds and not g.needs.segments
    out = advance(g, position(g), NOW)
    assert out.status == "failed" and out.step_id == "br" and out.taken == []
    assert out.exit_reason == "step 'BR': config.condition.segment: 'segment' is required"
