"""Step semantics: one `advance` call runs instant steps, stops at a waiting step until it is
due, and completes or exits; rotations count re-visits; unsupported steps are refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from app.core.engine import (
    MAX_STEPS_PER_PASS,
    Graph,
    Position,
    Step,
    TakenStep,
    UnsupportedStepError,
    advance,
    unsupported_steps,
)

NY = ZoneInfo("America/New_York")
UTC_ZONE = ZoneInfo("UTC")
T0 = datetime(2026, 3, 6, 20, 0, tzinfo=UTC)  # Friday 15:00 EST


def step(
    step_id: str,
    type_: str,
    config: dict[str, Any] | None = None,
    to: str | None = None,
    key: str | None = None,
) -> Step:
    """A step whose key is its id in capitals, so tests can tell which one a message names."""
    return Step(step_id, key or step_id.upper(), type_, config or {}, {None: to} if to else {})


def graph(*steps: Step) -> Graph:
    return Graph(steps[0].id, {s.id: s for s in steps})


def start(g: Graph, zone: ZoneInfo = NY, visits: dict[str, int] | None = None) -> Position:
    return Position(g.entry_id, None, visits or {}, zone)


def linear_graph(delay: str = "2 days") -> Graph:
    return graph(
        step("e1", "email", {"subject": "one", "body": "b"}, to="wait"),
        step("wait", "delay", {"duration": delay}, to="e2"),
        step("e2", "email", {"subject": "two", "body": "b"}, to="end"),
        step("end", "end"),
    )


# --- email -> delay -> email -> end ---------------------------------------------------


def test_first_pass_queues_the_first_email_and_waits_at_the_delay() -> None:
    out = advance(linear_graph(), start(linear_graph()), T0)

    assert out.status == "active"
    assert out.emails == [TakenStep("e1", 0, "queued")]
    assert out.taken == [TakenStep("e1", 0, "queued")]
    assert out.step_id == "wait"
    assert out.waiting_since == T0
    # 2 calendar days in New York across the spring-forward: Sunday 15:00 EDT, not 20:00Z.
    assert out.next_execution_at == datetime(2026, 3, 8, 19, 0, tzinfo=UTC)
    assert out.visits == {"e1": 1}
    assert out.exit_reason is None


def test_delay_is_computed_in_the_positions_zone() -> None:
    g = linear_graph()
    out = advance(g, start(g, zone=UTC_ZONE), T0)
    assert out.next_execution_at == T0 + timedelta(days=2)


def test_second_pass_after_the_delay_sends_the_second_email_and_completes() -> None:
    g = linear_graph()
    first = advance(g, start(g), T0)
    due = first.next_execution_at
    assert due is not None
    position = Position(first.step_id, first.waiting_since, first.visits, NY)

    out = advance(g, position, due)

    assert out.status == "completed"
    assert out.taken == [
        TakenStep("wait", 0, "waited"),
        TakenStep("e2", 0, "queued"),
        TakenStep("end", 0, "completed"),
    ]
    assert out.emails == [TakenStep("e2", 0, "queued")]
    assert out.step_id is None
    assert out.waiting_since is None
    assert out.next_execution_at is None
    assert out.visits == {"e1": 1, "wait": 1, "e2": 1, "end": 1}


def test_zero_length_delay_does_not_stop_the_run() -> None:
    for zero in ("0 minutes", "PT0S", "0 days"):
        g = linear_graph(delay=zero)
        out = advance(g, start(g), T0)
        assert out.status == "completed", zero
        assert [t.step_id for t in out.emails] == ["e1", "e2"]
        assert TakenStep("wait", 0, "waited") in out.taken


def test_positive_delay_stops_even_when_short() -> None:
    g = linear_graph(delay="1 second")
    out = advance(g, start(g), T0)
    assert out.status == "active"
    assert out.next_execution_at == T0 + timedelta(seconds=1)


# --- rotations ---------------------------------------------------------------------------


def test_revisit_through_a_delay_gets_the_next_rotation() -> None:
    g = graph(
        step("e", "email", {"subject": "s", "body": "b"}, to="d"),
        step("d", "delay", {"duration": "1 day"}, to="e"),
    )
    first = advance(g, Position("e", None, {}, UTC_ZONE), T0)
    assert first.emails == [TakenStep("e", 0, "queued")]
    assert first.step_id == "d"

    t1 = T0 + timedelta(days=1)
    assert first.next_execution_at == t1
    second = advance(g, Position("d", first.waiting_since, first.visits, UTC_ZONE), t1)

    assert second.status == "active"
    assert second.taken == [TakenStep("d", 0, "waited"), TakenStep("e", 1, "queued")]
    assert second.emails == [TakenStep("e", 1, "queued")]
    assert (second.step_id, second.waiting_since) == ("d", t1)
    assert second.next_execution_at == t1 + timedelta(days=1)
    assert second.visits == {"e": 2, "d": 1}

    third = advance(g, Position("d", t1, second.visits, UTC_ZONE), t1 + timedelta(days=1))
    assert third.emails == [TakenStep("e", 2, "queued")]
    assert third.taken[0] == TakenStep("d", 1, "waited")


def test_rotation_continues_from_the_given_visits() -> None:
    g = graph(step("e", "email", {"subject": "s", "body": "b"}))
    out = advance(g, start(g, visits={"e": 4}), T0)
    assert out.emails == [TakenStep("e", 4, "queued")]
    assert out.visits == {"e": 5}


def test_advance_never_mutates_the_given_visits() -> None:
    g = linear_graph()
    given = {"e1": 3, "other": 1}
    out = advance(g, start(g, visits=given), T0)
    assert given == {"e1": 3, "other": 1}
    assert out.visits == {"e1": 4, "other": 1}
    assert out.visits is not given

    frozen = MappingProxyType({"e1": 3})  # a read-only mapping is enough for advance
    out = advance(g, Position("e1", None, frozen, NY), T0)
    assert dict(frozen) == {"e1": 3}
    assert out.visits == {"e1": 4}


# --- how runs end -----------------------------------------------------------------------


def test_exit_action_exits_with_a_reason_naming_the_step() -> None:
    g = graph(
        step("e", "email", {"subject": "s", "body": "b"}, to="x"),
        step("x", "action", {"action": "exit"}, to="after", key="bail_out"),
        step("after", "email", {"subject": "never", "body": "b"}),
    )
    out = advance(g, start(g), T0)

    assert out.status == "exited"
    assert out.exit_reason is not None
    assert "bail_out" in out.exit_reason
    assert out.taken == [TakenStep("e", 0, "queued"), TakenStep("x", 0, "exited")]
    assert [t.step_id for t in out.emails] == ["e"]  # nothing after the exit runs
    assert (out.step_id, out.waiting_since, out.next_execution_at) == (None, None, None)


def test_step_without_outgoing_connection_completes() -> None:
    g = graph(step("e", "email", {"subject": "s", "body": "b"}))
    out = advance(g, start(g), T0)
    assert out.status == "completed"
    assert out.taken == [TakenStep("e", 0, "queued")]
    assert (out.step_id, out.next_execution_at, out.exit_reason) == (None, None, None)


def test_delay_without_outgoing_connection_completes_once_due() -> None:
    g = graph(step("d", "delay", {"duration": "1 hour"}))
    waiting = advance(g, start(g), T0)
    assert waiting.status == "active"
    done = advance(g, Position("d", T0, waiting.visits, NY), T0 + timedelta(hours=1))
    assert done.status == "completed"
    assert done.taken == [TakenStep("d", 0, "waited")]


def test_end_step_completes() -> None:
    g = graph(step("end", "end"))
    out = advance(g, start(g), T0)
    assert out.status == "completed"
    assert out.taken == [TakenStep("end", 0, "completed")]
    assert out.emails == []
    assert out.exit_reason is None


def test_position_past_the_last_step_completes() -> None:
    g = graph(step("e", "email", {"subject": "s", "body": "b"}))
    out = advance(g, Position(None, None, {"e": 1}, NY), T0)
    assert out.status == "completed"
    assert out.taken == []
    assert out.visits == {"e": 1}


def test_goal_step_is_recorded_as_reached_and_the_run_continues() -> None:
    g = graph(
        step("g", "goal", {"goal": "Booked Meeting"}, to="e"),
        step("e", "email", {"subject": "s", "body": "b"}, to="d"),
        step("d", "delay", {"duration": "1 day"}),
    )
    out = advance(g, start(g), T0)
    assert out.taken == [TakenStep("g", 0, "reached"), TakenStep("e", 0, "queued")]
    assert out.status == "active"
    assert out.step_id == "d"


def test_missing_step_raises_key_error() -> None:
    # The processor relies on this to fail an enrollment whose step was removed.
    g = graph(step("e", "email", {"subject": "s", "body": "b"}))
    with pytest.raises(KeyError):
        advance(g, Position("gone", None, {}, NY), T0)


# --- unsupported steps (only A/B variants remain) -------------------------------------------

BRANCH = {"type": "branch", "condition": {"type": "tag", "tag": "x"}}
UNSUPPORTED = [("teleport", {"to": "mars"})]


@pytest.mark.parametrize(("type_", "config"), UNSUPPORTED)
def test_unsupported_step_raises_naming_the_step_key(type_: str, config: dict[str, Any]) -> None:
    g = graph(
        step("first", "email", {"subject": "s", "body": "b"}, to="odd"),
        Step("odd", "author_key", type_, config, {}),
    )
    with pytest.raises(UnsupportedStepError) as info:
        advance(g, start(g), T0)
    assert info.value.step_key == "author_key"
    assert "author_key" in str(info.value)

    problems = unsupported_steps(g)
    assert [p.step_key for p in problems] == ["author_key"]


def test_unsupported_steps_lists_every_one_and_only_those() -> None:
    odd = [Step(f"u{i}", f"odd_{i}", t, c, {}) for i, (t, c) in enumerate(UNSUPPORTED)]
    fine = [
        step("e", "email", {"subject": "s", "body": "b", "variants": []}),
        step("d", "delay", {"duration": "2 days"}),
        step("w", "delay", {"duration": "1 day", "window": {"start": "09:00", "end": "17:00"}}),
        step("u", "delay", {"until": "weekday", "weekday": "monday", "time": "09:00"}),
        step("t", "wait_until", {"conditions": [{"event": "x", "timeout": "1 day"}]}),
        step("g", "goal", {"goal": "x"}),
        step("x", "action", {"action": "exit"}),
        step("b", "branch", BRANCH),
        step(
            "s", "split", {"paths": [{"label": "a", "percent": 50}, {"label": "b", "percent": 50}]}
        ),
        step("at", "action", {"action": "add_tag", "tag": "High Intent"}),
        step("rt", "action", {"action": "remove_tag", "tag": "x"}),
        step("uf", "action", {"action": "update_field", "field": "f", "value": 1}),
        step("mv", "action", {"action": "move_to_sequence", "sequence": "other"}),
        step("end", "end"),
    ]
    g = graph(*fine, *odd)

    keys = [p.step_key for p in unsupported_steps(g)]
    assert sorted(keys) == sorted(s.key for s in odd)
    assert unsupported_steps(graph(*fine)) == []


def test_supported_graph_runs_without_error() -> None:
    g = linear_graph()
    assert unsupported_steps(g) == []
    advance(g, start(g), T0)


# --- the runaway guard ------------------------------------------------------------------


def test_instant_cycle_is_cut_off_and_resumes_next_pass() -> None:
    # Validation forbids a loop with no waiting step; the engine still must not spin forever.
    g = graph(
        step("a", "goal", {"goal": "x"}, to="b"),
        step("b", "email", {"subject": "s", "body": "b"}, to="a"),
    )
    out = advance(g, start(g), T0)

    assert out.status == "active"
    assert out.next_execution_at == T0
    assert out.waiting_since is None
    assert len(out.taken) == MAX_STEPS_PER_PASS
    assert out.step_id == "a"  # the next step to run (200 steps = 100 rounds of a, b)
    assert out.visits == {"a": MAX_STEPS_PER_PASS // 2, "b": MAX_STEPS_PER_PASS // 2}
