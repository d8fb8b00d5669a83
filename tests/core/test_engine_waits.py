"""The engine's waits: wait_until verdicts with events in hand, and windows missed late."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from app.core.engine import Graph, Position, Step, advance
from app.core.waits import SeenEvent, resolve_reference, waits_for

NY = ZoneInfo("America/New_York")
T0 = datetime(2026, 12, 7, 15, 0, tzinfo=UTC)  # Monday 10:00 in New York


def wait_graph(*conditions: dict[str, Any]) -> Graph:
    steps = {
        "wait": Step("wait", "WAIT", "wait_until", {"conditions": list(conditions)},
                     {"met": "yes", "timeout": "no"}),
        "yes": Step("yes", "YES", "email", {"subject": "s", "body": "b"}, {}),
        "no": Step("no", "NO", "email", {"subject": "s", "body": "b"}, {}),
    }  # fmt: skip
    return Graph("wait", steps)


def at_wait(since: datetime | None, events=(), context=None, enrollment="e1") -> Position:
    return Position(
        "wait", since, {}, NY, events=list(events), context=context or {}, enrollment_id=enrollment
    )


def emailed(outcome) -> list[str]:
    return [taken.step_id for taken in outcome.emails]


def test_arriving_at_a_wait_sleeps_until_the_longest_timeout() -> None:
    g = wait_graph({"event": "a", "timeout": "1 day"}, {"event": "b", "timeout": "3 days"})
    outcome = advance(g, at_wait(None), T0)
    assert (outcome.step_id, outcome.waiting_since) == ("wait", T0)
    assert outcome.next_execution_at == T0 + timedelta(days=3)


def test_an_event_inside_its_timeout_takes_the_met_path() -> None:
    g = wait_graph({"event": "user_login", "timeout": "7 days"})
    login = SeenEvent("user_login", {}, T0 + timedelta(days=2))
    outcome = advance(g, at_wait(T0, [login]), T0 + timedelta(days=2, seconds=1))
    assert emailed(outcome) == ["yes"]
    assert outcome.taken[0].outcome == "met"


def test_events_before_the_wait_or_after_their_own_timeout_do_not_count() -> None:
    g = wait_graph({"event": "a", "timeout": "1 day"}, {"event": "b", "timeout": "3 days"})
    early = SeenEvent("b", {}, T0 - timedelta(minutes=1))
    late_a = SeenEvent("a", {}, T0 + timedelta(days=2))
    outcome = advance(g, at_wait(T0, [early, late_a]), T0 + timedelta(days=2, hours=1))
    assert outcome.step_id == "wait" and emailed(outcome) == []
    timed_out = advance(g, at_wait(T0, [early, late_a]), T0 + timedelta(days=3))
    assert emailed(timed_out) == ["no"]
    assert timed_out.taken[0].outcome == "timed_out"


def test_properties_must_equal_and_match_correlates_with_the_enrollment() -> None:
    g = wait_graph(
        {
            "event": "checkout",
            "properties": {"store": "eu"},
            "match": {"cart_id": "{{ enrollment.trigger.properties.cart_id }}"},
            "timeout": "1 day",
        }
    )
    context = {"trigger": {"properties": {"cart_id": "c1"}}}
    now = T0 + timedelta(hours=2)

    def checkout(**props: Any) -> SeenEvent:
        return SeenEvent("checkout", props, T0 + timedelta(hours=1))

    other_cart = checkout(store="eu", cart_id="c2")
    other_store = checkout(store="us", cart_id="c1")
    assert emailed(advance(g, at_wait(T0, [other_cart, other_store], context), now)) == []
    assert emailed(advance(g, at_wait(T0, [checkout(store="eu", cart_id="c1")], context), now)) == [
        "yes"
    ]
    # a reference to nothing matches nothing, rather than everything
    assert emailed(advance(g, at_wait(T0, [checkout(store="eu", cart_id=None)], {}), now)) == []


def test_field_waits_and_email_events_of_this_enrollment_only() -> None:
    g = wait_graph(
        {"field": "company_size", "timeout": "3 days"},
        {"event": "clicked_link", "email_step_id": "intro", "link_url_contains": "/demo",
         "timeout": "3 days"},
    )  # fmt: skip
    now = T0 + timedelta(hours=2)
    when = T0 + timedelta(hours=1)
    other_field = SeenEvent("field_changed", {"field": "plan"}, when)
    assert emailed(advance(g, at_wait(T0, [other_field]), now)) == []
    size = SeenEvent("field_changed", {"field": "company_size"}, when)
    assert emailed(advance(g, at_wait(T0, [size]), now)) == ["yes"]

    click = {"email_step_id": "intro", "url": "https://x.test/demo?a=1"}
    someone_elses = SeenEvent("clicked_link", click, when, enrollment_id="e2")
    assert emailed(advance(g, at_wait(T0, [someone_elses]), now)) == []
    wrong_link = SeenEvent("clicked_link", {**click, "url": "https://x.test/pricing"}, when, "e1")
    assert emailed(advance(g, at_wait(T0, [wrong_link]), now)) == []
    assert emailed(
        advance(g, at_wait(T0, [SeenEvent("clicked_link", click, when, "e1")]), now)
    ) == ["yes"]


def test_waits_for_names_the_events_that_can_wake_a_wait() -> None:
    config = {"conditions": [{"event": "login", "timeout": "1 day"},
                             {"field": "plan", "timeout": "1 day"}]}  # fmt: skip
    assert waits_for(config, "login", {})
    assert waits_for(config, "field_changed", {"field": "plan"})
    assert not waits_for(config, "field_changed", {"field": "name"})
    assert not waits_for(config, "logout", {})


def test_references_resolve_or_stay_literal() -> None:
    scope = {"enrollment": {"trigger": {"properties": {"cart_id": "c1"}}}}
    assert resolve_reference("{{ enrollment.trigger.properties.cart_id }}", scope) == "c1"
    assert resolve_reference("{{enrollment.trigger.missing}}", scope) is None
    assert resolve_reference("plain", scope) == "plain"
    assert resolve_reference(7, scope) == 7


WINDOW = {"weekdays": ["mon", "tue", "wed", "thu", "fri"], "start": "09:00", "end": "17:00"}


def delay_graph(config: dict[str, Any]) -> Graph:
    return Graph(
        "d",
        {
            "d": Step("d", "D", "delay", config, {None: "e"}),
            "e": Step("e", "E", "email", {"subject": "s", "body": "b"}, {}),
        },
    )


def test_a_window_missed_by_a_late_run_waits_again_unless_send_anyway() -> None:
    entered = datetime(2026, 12, 4, 22, 0, tzinfo=UTC)  # Friday
    monday_evening = datetime(2026, 12, 7, 23, 0, tzinfo=UTC)  # 18:00 New York, window closed
    waiting = delay_graph({"duration": "2 days", "window": WINDOW})
    late = advance(waiting, Position("d", entered, {}, NY), monday_evening)
    assert late.step_id == "d" and late.emails == []
    assert late.next_execution_at == datetime(2026, 12, 8, 14, 0, tzinfo=UTC)  # Tue 09:00

    anyway = delay_graph(
        {"duration": "2 days", "window": WINDOW, "if_window_missed": "send_anyway"}
    )
    assert emailed(advance(anyway, Position("d", entered, {}, NY), monday_evening)) == ["e"]
