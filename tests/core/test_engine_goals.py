"""The goal step records a conversion; it ends the enrollment only when its goal is an exit
goal. Goal matching (`app.core.goals`): each `when` type, JSON equality, enrollment time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from app.core import goals
from app.core.engine import GoalReached, Graph, Position, Step, TakenStep, advance

T0 = datetime(2026, 3, 6, 20, 0, tzinfo=UTC)
UTC_ZONE = ZoneInfo("UTC")


def checkpoint_graph(exit_goals: frozenset[str] = frozenset()) -> Graph:
    steps = [
        Step("e1", "E1", "email", {"subject": "one", "body": "b"}, {None: "booked"}),
        Step("booked", "BOOKED", "goal", {"goal": "Booked Meeting"}, {None: "e2"}),
        Step("e2", "E2", "email", {"subject": "two", "body": "b"}, {}),
    ]
    return Graph("e1", {s.id: s for s in steps}, exit_goals)


def test_a_goal_step_records_a_conversion_and_the_contact_carries_on() -> None:
    out = advance(checkpoint_graph(), Position("e1", None, {}, UTC_ZONE), T0)

    assert out.conversions == [GoalReached("Booked Meeting", "booked")]
    assert out.taken[1] == TakenStep("booked", 0, "reached")
    assert [e.step_id for e in out.emails] == ["e1", "e2"]
    assert out.status == "completed" and out.exit_reason is None


def test_a_goal_step_named_in_exit_goals_ends_the_enrollment_there() -> None:
    g = checkpoint_graph(frozenset({"Booked Meeting"}))
    out = advance(g, Position("e1", None, {}, UTC_ZONE), T0)

    assert out.conversions == [GoalReached("Booked Meeting", "booked")]
    assert [e.step_id for e in out.emails] == ["e1"]
    assert out.status == "exited"
    assert out.exit_reason == "goal 'Booked Meeting' reached"
    assert out.step_id is None and out.next_execution_at is None


def test_an_exit_goal_of_another_name_does_not_stop_the_checkpoint() -> None:
    out = advance(checkpoint_graph(frozenset({"Paid"})), Position("e1", None, {}, UTC_ZONE), T0)
    assert out.status == "completed"
    assert [e.step_id for e in out.emails] == ["e1", "e2"]


# --- matching -------------------------------------------------------------------------------

BOOKED = {
    "name": "Booked Meeting",
    "when": {"type": "field_change", "field": "deal_stage", "equals": "Meeting Booked"},
    "action": {"type": "exit"},
}
PRICING = {"name": "Saw pricing", "when": {"type": "url_visit", "url_contains": "/pricing"}}
PAID = {"name": "Paid", "when": {"type": "custom_event", "event": "subscription_paid"}}


def event(kind: str, at: datetime = T0, event_id: int = 1, **props: object) -> goals.GoalEvent:
    return goals.GoalEvent(event_id, kind, props, at)


def names(found: list[goals.Reached]) -> list[str]:
    return [hit.name for hit in found]


def test_each_when_type_is_reached_by_its_event() -> None:
    all_goals = [BOOKED, PRICING, PAID]
    field = event("field_changed", field="deal_stage", to="Meeting Booked", event_id=7)
    assert names(goals.reached(all_goals, [field], T0)) == ["Booked Meeting"]
    assert goals.reached(all_goals, [field], T0)[0].event == field
    view = event("page_viewed", url="https://x.example/pricing?plan=pro")
    assert names(goals.reached(all_goals, [view], T0)) == ["Saw pricing"]
    click = event("clicked_link", url="https://x.example/pricing")
    assert names(goals.reached(all_goals, [click], T0)) == ["Saw pricing"]
    assert names(goals.reached(all_goals, [event("subscription_paid")], T0)) == ["Paid"]


def test_near_misses_reach_nothing() -> None:
    all_goals = [BOOKED, PRICING, PAID]
    misses = [
        event("field_changed", field="deal_stage", to="Qualified"),
        event("field_changed", field="stage", to="Meeting Booked"),
        event("bot_click", url="https://x.example/pricing"),
        event("page_viewed", url="https://x.example/about"),
        event("subscription_cancelled"),
    ]
    assert goals.reached(all_goals, misses, T0) == []


def test_field_equality_is_json_equality() -> None:
    score = {"name": "Hot", "when": {"type": "field_change", "field": "score", "equals": 1}}
    assert goals.reached([score], [event("field_changed", field="score", to=1)], T0)
    assert not goals.reached([score], [event("field_changed", field="score", to=True)], T0)
    assert not goals.reached([score], [event("field_changed", field="score", to="1")], T0)
    assert goals.reached([score], [], T0, fields={"score": 1})
    assert not goals.reached([score], [], T0, fields={"score": True})


def test_events_before_the_enrollment_do_not_count() -> None:
    earlier = event("subscription_paid", at=T0 - timedelta(seconds=1))
    assert goals.reached([PAID], [earlier], T0) == []
    assert names(goals.reached([PAID], [earlier, event("subscription_paid")], T0)) == ["Paid"]


def test_current_fields_reach_field_goals_only_when_given() -> None:
    fields = {"deal_stage": "Meeting Booked"}
    assert goals.reached([BOOKED], [], T0) == []
    found = goals.reached([BOOKED], [], T0, fields=fields)
    assert names(found) == ["Booked Meeting"] and found[0].event is None
    assert goals.reached([BOOKED], [], T0, fields={}) == []


def test_the_exit_reason_names_the_goal_and_the_move() -> None:
    assert goals.exit_reason(BOOKED) == "goal 'Booked Meeting' reached"
    moving = {**BOOKED, "action": {"type": "move_to_sequence", "sequence": "Pre-meeting Prep"}}
    assert goals.move_target(moving) == "Pre-meeting Prep"
    assert goals.move_target(BOOKED) is None
    assert goals.exit_reason(moving) == (
        "goal 'Booked Meeting' reached; moved to sequence 'Pre-meeting Prep'"
    )
