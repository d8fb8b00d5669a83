"""An operator's "skip wait": the engine ends the wait the enrollment stands on at once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from app.core.engine import Graph, Position, Step, advance
from app.core.waits import SeenEvent

NY = ZoneInfo("America/New_York")
T0 = datetime(2026, 12, 7, 15, 0, tzinfo=UTC)  # Monday 10:00 in New York
EMAIL = {"subject": "s", "body": "b"}


def delay_graph(config: dict) -> Graph:
    steps = {
        "wait": Step("wait", "WAIT", "delay", config, {None: "two"}),
        "two": Step("two", "TWO", "email", EMAIL, {None: "later"}),
        "later": Step("later", "LATER", "delay", {"duration": "1 day"}, {None: "three"}),
        "three": Step("three", "THREE", "email", EMAIL, {}),
    }
    return Graph("wait", steps)


def wait_until_graph(paths: dict) -> Graph:
    steps = {
        "wait": Step(
            "wait", "WAIT", "wait_until", {"conditions": [{"event": "a", "timeout": "7 days"}]},
            paths,
        ),
        "yes": Step("yes", "YES", "email", EMAIL, {}),
        "no": Step("no", "NO", "email", EMAIL, {}),
    }  # fmt: skip
    return Graph("wait", steps)


def steps(outcome) -> list[tuple[str, str]]:
    return [(taken.step_id, taken.outcome) for taken in outcome.taken]


def at(step: str, since: datetime, skip: bool, events=()) -> Position:
    return Position(step, since, {}, NY, events=list(events), skip_wait=skip)


def test_a_skipped_delay_is_taken_at_once_and_the_next_email_is_queued() -> None:
    graph = delay_graph({"duration": "3 days"})
    now = T0 + timedelta(hours=1)

    waiting = advance(graph, at("wait", T0, skip=False), now)
    skipped = advance(graph, at("wait", T0, skip=True), now)

    assert waiting.taken == [] and waiting.next_execution_at == T0 + timedelta(days=3)
    assert steps(skipped) == [
        ("wait", "skipped"),
        ("two", "queued"),
    ]
    # only the wait it stood on: the next delay waits its full day
    assert (skipped.step_id, skipped.next_execution_at) == ("later", now + timedelta(days=1))


def test_a_skipped_windowed_delay_carries_no_window_to_the_next_email() -> None:
    window = {"weekdays": ["sat"], "start": "09:00", "end": "10:00"}
    outcome = advance(
        delay_graph({"duration": "1 day", "window": window}), at("wait", T0, skip=True), T0
    )
    [email] = outcome.emails
    assert email.step_id == "two" and email.send_window is None


def test_a_skipped_wait_until_leaves_by_its_timeout_path() -> None:
    outcome = advance(wait_until_graph({"met": "yes", "timeout": "no"}), at("wait", T0, True), T0)
    assert steps(outcome) == [
        ("wait", "skipped"),
        ("no", "queued"),
    ]


def test_a_skipped_wait_until_without_a_timeout_path_follows_its_default_next() -> None:
    outcome = advance(wait_until_graph({"met": "yes", None: "no"}), at("wait", T0, True), T0)
    assert [t.step_id for t in outcome.emails] == ["no"]


def test_a_wait_that_ended_by_itself_keeps_its_own_verdict() -> None:
    """An event that arrived before the pass: the wait was met, not skipped."""
    met = SeenEvent("a", {}, T0 + timedelta(minutes=5))
    graph = wait_until_graph({"met": "yes", "timeout": "no"})
    outcome = advance(graph, at("wait", T0, True, [met]), T0 + timedelta(minutes=6))
    assert steps(outcome) == [("wait", "met"), ("yes", "queued")]


def test_skip_wait_does_nothing_to_a_step_that_does_not_wait() -> None:
    graph = delay_graph({"duration": "3 days"})
    outcome = advance(graph, at("two", T0, skip=True), T0)
    assert steps(outcome) == [("two", "queued")]
    assert (outcome.step_id, outcome.next_execution_at) == ("later", T0 + timedelta(days=1))
