"""The pure simulator: the engine's own steps on a simulated clock, events as the real
paths record them, bounded passes and horizon."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from app.core import simulation
from app.core.engine import Graph, Step

START = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
NEW_YORK = ZoneInfo("America/New_York")


def email(key: str, subject: str, nxt: str | None = None) -> Step:
    return Step(
        key, key, "email", {"subject": subject, "body": "<p>x</p>"}, {None: nxt} if nxt else {}
    )


def click_graph() -> Graph:
    wait = {
        "conditions": [
            {
                "event": "clicked_link",
                "email_step_id": "intro",
                "link_url_contains": "/book-demo",
                "timeout": "3 days",
            }
        ]
    }
    steps = [
        email("intro", "Intro", "wait"),
        Step("wait", "wait", "wait_until", wait, {"met": "booked", "timeout": "nudge"}),
        email("booked", "See you soon"),
        email("nudge", "Still there?"),
    ]
    return Graph("intro", {step.id: step for step in steps})


def subject(step, variant, tags, fields) -> str:
    return str(step.config["subject"])


NO_RULES = simulation.Rules()


def run(graph: Graph, events=(), rules=NO_RULES, **bounds) -> list[simulation.Entry]:
    contact = simulation.Contact(NEW_YORK)
    return simulation.simulate(graph, contact, START, list(events), rules, subject, **bounds)


def emails(entries: list[simulation.Entry]) -> list[tuple[str, datetime]]:
    return [(e.step, e.at) for e in entries if e.action == "queued email"]


def test_a_click_on_the_awaited_link_moves_the_contact_on_at_the_moment_of_the_click():
    clicked = START + timedelta(days=1, hours=2)
    event = simulation.HypotheticalEvent(
        clicked, "clicked_link", {"url": "https://x.test/book-demo"}
    )
    entries = run(click_graph(), [event])
    assert emails(entries) == [("intro", START), ("booked", clicked)]
    met = next(e for e in entries if e.step == "wait")
    assert (met.action, met.at) == ("met", clicked)
    assert "clicked_link" in met.detail
    assert (entries[-1].action, entries[-1].type) == ("completed", "sequence")


def test_a_click_on_another_link_leaves_the_wait_to_time_out_after_three_days():
    event = simulation.HypotheticalEvent(
        START + timedelta(hours=5), "clicked_link", {"url": "https://x.test/pricing"}
    )
    entries = run(click_graph(), [event])
    assert emails(entries) == [("intro", START), ("nudge", START + timedelta(days=3))]
    assert next(e for e in entries if e.step == "wait").action == "timed_out"


def test_an_email_event_before_any_email_is_ignored_and_said_so():
    graph = Graph("w", {"w": Step("w", "w", "delay", {"duration": "1 day"}, {})})
    entries = run(graph, [simulation.HypotheticalEvent(START, "opened", {})])
    assert entries[0].action == "opened" and entries[0].detail.startswith("ignored")


def test_a_reply_ends_the_enrollment_when_the_sequence_exits_on_reply():
    replied = START + timedelta(hours=1)
    rules = simulation.Rules(exit_on_reply=True)
    entries = run(click_graph(), [simulation.HypotheticalEvent(replied, "replied", {})], rules)
    assert (entries[-1].action, entries[-1].detail, entries[-1].at) == (
        "exited",
        "replied",
        replied,
    )
    assert emails(entries) == [("intro", START)]


def test_a_field_event_reaching_a_goal_exits_with_the_goals_reason():
    goal = {"name": "Paid", "when": {"type": "field_change", "field": "plan", "equals": "paid"}}
    paid = START + timedelta(days=2)
    event = simulation.HypotheticalEvent(paid, "field_changed", {"field": "plan", "to": "paid"})
    entries = run(click_graph(), [event], simulation.Rules(goals=[goal]))
    assert [e.action for e in entries[-3:]] == ["field_changed", "goal reached", "exited"]
    assert entries[-1].detail == "goal 'Paid' reached"


def test_the_simulation_stops_at_its_pass_limit_and_at_its_horizon():
    loop = Graph(
        "d",
        {
            "d": Step("d", "d", "delay", {"duration": "1 hour"}, {None: "e"}),
            "e": email("e", "Again", "d"),
        },
    )
    stopped = run(loop, max_passes=3)[-1]
    assert (stopped.action, stopped.detail) == ("stopped", "stopped after 3 passes")
    far = Graph("d", {"d": Step("d", "d", "delay", {"duration": "500 days"}, {})})
    last = run(far)[-1]
    assert last.action == "stopped" and "400-day horizon" in last.detail
    assert last.at == START + simulation.HORIZON
