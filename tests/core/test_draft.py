"""Live validation of unfinished drafts: every problem the canvas must point at."""

from __future__ import annotations

from app.core.draft import (
    Draft,
    DraftConnection,
    DraftStep,
    check_draft,
)
from app.core.steps import KINDS, step_outputs


def email(step_id: str, subject: str = "Hi", body: str = "<p>Hi</p>") -> DraftStep:
    return DraftStep(step_id, "email", {"subject": subject, "body": body})


def messages(draft: Draft, severity: str = "error") -> dict[str | None, list[str]]:
    found: dict[str | None, list[str]] = {}
    for finding in check_draft(draft):
        if finding.severity == severity:
            found.setdefault(finding.problem.step, []).append(finding.problem.message)
    return found


def test_a_complete_chain_has_no_problems() -> None:
    draft = Draft(
        [email("e1"), DraftStep("d1", "delay", {"duration": "2 days"}), email("e2")],
        [DraftConnection("e1", "d1"), DraftConnection("d1", "e2")],
    )
    assert check_draft(draft) == []


def test_an_empty_canvas_asks_for_a_first_step() -> None:
    [finding] = check_draft(Draft([], []))
    assert "first step" in finding.problem.message


def test_emails_without_subject_or_body_are_flagged_by_step() -> None:
    draft = Draft([email("e1", subject=" ", body="")], [])
    assert messages(draft) == {"e1": ["an email needs a subject", "an email needs a body"]}


def test_a_wait_until_missing_its_timeout_path_is_flagged_until_connected() -> None:
    wait = DraftStep(
        "w1",
        "wait_until",
        {"conditions": [{"event": "clicked_link", "email_step_id": "e1", "timeout": "3 days"}]},
    )
    steps = [email("e1"), wait, email("sales"), email("nurture")]
    half = [DraftConnection("e1", "w1"), DraftConnection("w1", "sales", "met")]
    problems = messages(Draft(steps, half))
    assert any("no 'timeout' path" in m for m in problems["w1"])
    assert "nurture" in problems  # unreachable until the timeout path leads there
    whole = [*half, DraftConnection("w1", "nurture", "timeout")]
    assert messages(Draft(steps, whole)) == {}


def test_unfinished_settings_are_reported_not_raised() -> None:
    steps = [DraftStep(t, t, KINDS[t].default_config) for t in ("wait_until", "branch", "goal")]
    problems = messages(Draft(steps, []))
    assert any("conditions" in m or "at least 1" in m for m in problems["wait_until"])
    assert "'condition' is required" in problems["branch"]
    assert "'goal' is required" in problems["goal"]


def test_a_split_that_does_not_sum_to_100_is_flagged() -> None:
    split = DraftStep(
        "s1", "split", {"paths": [{"label": "a", "percent": 60}, {"label": "b", "percent": 30}]}
    )
    problems = messages(Draft([split], []))
    assert any("add up to 90" in m for m in problems["s1"])


def test_a_branch_right_after_its_email_is_a_warning() -> None:
    branch = DraftStep(
        "b1",
        "branch",
        {"condition": {"type": "email_event", "email_step_id": "e1", "event": "clicked_link"}},
    )
    steps = [email("e1"), branch, email("yes"), email("no")]
    connections = [
        DraftConnection("e1", "b1"),
        DraftConnection("b1", "yes", "true"),
        DraftConnection("b1", "no", "false"),
    ]
    assert messages(Draft(steps, connections)) == {}
    warnings = messages(Draft(steps, connections), "warning")
    assert "no delay or wait_until in between" in warnings["b1"][0]


def test_outputs_follow_the_step_type_and_settings() -> None:
    assert step_outputs("email", {}) == [None]
    assert step_outputs("branch", {}) == ["true", "false"]
    assert step_outputs("wait_until", {}) == ["met", "timeout"]
    assert step_outputs("end", {}) == []
    assert step_outputs("action", {"action": "exit"}) == []
    assert step_outputs("action", {"action": "add_tag"}) == [None]
    paths = {"paths": [{"label": "x", "percent": 20}, {"label": "y", "percent": 80}]}
    assert step_outputs("split", paths) == ["x", "y"]
    assert step_outputs("split", {"paths": "broken"}) == []


def test_every_new_step_default_is_stored_as_a_mapping() -> None:
    assert set(KINDS) == {
        "email", "delay", "wait_until", "branch", "split", "action", "goal", "end", "webhook",
    }  # fmt: skip
    assert check_draft(Draft([DraftStep("d", "delay", KINDS["delay"].default_config)], [])) == []
