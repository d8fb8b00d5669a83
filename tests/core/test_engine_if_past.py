"""`if_past: skip_next_email` on an `until` delay: a reminder whose moment has already passed
when the contact arrives is skipped, the flow goes on; otherwise nothing changes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from app.core.engine import Graph, Position, Step, TakenStep, advance

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
UTC_ZONE = ZoneInfo("UTC")


def reminders(if_past: str | None) -> Graph:
    """Invite, then a week-before reminder and a day-before reminder, timed from webinar_at."""
    week = {"until": "field", "field": "webinar_at", "offset": "-7 days"}
    day = {"until": "field", "field": "webinar_at", "offset": "-1 day"}
    if if_past:
        week, day = week | {"if_past": if_past}, day | {"if_past": if_past}
    steps = [
        Step("invite", "INVITE", "email", {"subject": "Invite", "body": "b"}, {None: "w"}),
        Step("w", "W", "delay", week, {None: "week"}),
        Step("week", "WEEK", "email", {"subject": "A week", "body": "b"}, {None: "d"}),
        Step("d", "D", "delay", day, {None: "day"}),
        Step("day", "DAY", "email", {"subject": "A day", "body": "b"}, {}),
    ]
    return Graph("invite", {s.id: s for s in steps})


def run(graph: Graph, webinar_at: datetime, now: datetime) -> tuple[list[str], object]:
    fields = {"webinar_at": webinar_at.isoformat()}
    out = advance(graph, Position("invite", None, {}, UTC_ZONE, fields=fields), now)
    return [e.step_id for e in out.emails], out


def test_a_late_sign_up_skips_the_reminder_whose_moment_has_passed() -> None:
    emails, out = run(reminders("skip_next_email"), T0 + timedelta(days=3), T0)
    assert emails == ["invite"]
    assert TakenStep("week", 0, "skipped_late") in out.taken
    assert out.step_id == "d" and out.next_execution_at == T0 + timedelta(days=2)


def test_an_early_sign_up_gets_every_reminder() -> None:
    emails, out = run(reminders("skip_next_email"), T0 + timedelta(days=10), T0)
    assert emails == ["invite"] and out.step_id == "w"
    later = Position(
        "w", T0, out.visits, UTC_ZONE, fields={"webinar_at": (T0 + timedelta(days=10)).isoformat()}
    )
    out = advance(reminders("skip_next_email"), later, T0 + timedelta(days=3))
    assert [e.step_id for e in out.emails] == ["week"]


@pytest.mark.parametrize("if_past", [None, "continue"])
def test_by_default_a_passed_moment_sends_at_once(if_past: str | None) -> None:
    emails, _ = run(reminders(if_past), T0 + timedelta(days=3), T0)
    assert emails == ["invite", "week"]


def test_when_both_moments_have_passed_both_reminders_are_skipped() -> None:
    emails, out = run(reminders("skip_next_email"), T0 - timedelta(hours=1), T0)
    assert emails == ["invite"]
    assert [t.outcome for t in out.taken if t.step_id in ("week", "day")] == ["skipped_late"] * 2
    assert out.status == "completed"


def test_only_an_email_right_after_the_delay_is_skipped() -> None:
    late = {"until": "datetime", "at": "2026-03-01T09:00:00Z", "if_past": "skip_next_email"}
    steps = [
        Step("wait", "WAIT", "delay", late, {None: "tag"}),
        Step("tag", "TAG", "action", {"action": "add_tag", "tag": "late"}, {None: "mail"}),
        Step("mail", "MAIL", "email", {"subject": "Hi", "body": "b"}, {}),
    ]
    graph = Graph("wait", {s.id: s for s in steps})
    out = advance(graph, Position("wait", None, {}, UTC_ZONE), T0)
    assert [e.step_id for e in out.emails] == ["mail"]
