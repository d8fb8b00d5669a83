"""Problems on the pages name steps as the marketer named them, never by id; the Problem
itself (the API's message and `step` field) still names the id."""

from __future__ import annotations

from app.core.draft import Draft, DraftConnection, DraftStep, check_draft
from app.core.problem_words import in_words, step_names

WELCOME = DraftStep("email_1", "email", {"subject": "Hi", "body": "<p>Hi</p>"}, "Welcome email")
WAIT = DraftStep("delay_1", "delay", {"duration": "2 days"}, "Wait 2 days")
CUSTOMER = DraftStep("branch_1", "branch", {}, "Is a customer?")


def words(draft: Draft) -> dict[str | None, list[str]]:
    names = step_names((step.id, step.name, step.type) for step in draft.steps)
    found: dict[str | None, list[str]] = {}
    for finding in check_draft(draft):
        found.setdefault(finding.problem.step, []).append(in_words(finding.problem, names))
    return found


def test_an_unreachable_step_is_named_with_the_first_step() -> None:
    draft = Draft([WELCOME, WAIT], [])

    [problem] = [f.problem for f in check_draft(draft) if f.problem.step == "delay_1"]

    assert problem.message == "step 'delay_1' is unreachable from the start step 'email_1'"
    assert words(draft)["delay_1"] == [
        "'Wait 2 days' cannot be reached from the first step 'Welcome email'"
    ]


def test_a_missing_choice_asks_for_it_by_the_step_name() -> None:
    draft = Draft([WELCOME, CUSTOMER], [DraftConnection("email_1", "branch_1")])

    said = words(draft)["branch_1"]

    assert "Choose a condition for 'Is a customer?'" in said
    assert not any("branch_1" in text for text in said)


def test_an_unnamed_step_is_called_by_its_kind_as_on_its_card() -> None:
    draft = Draft([DraftStep("email_1", "email", {"subject": "", "body": "x"})], [])

    assert words(draft)["email_1"] == ["Write a subject for the email 'Email'"]


def test_other_messages_get_names_for_ids_and_the_step_named_first() -> None:
    loop = Draft(
        [WELCOME, DraftStep("tag_1", "action", {"action": "add_tag", "tag": "x"}, "Tag them")],
        [DraftConnection("email_1", "tag_1"), DraftConnection("tag_1", "email_1")],
    )
    said = [text for texts in words(loop).values() for text in texts]
    assert said, "a loop of instant steps is a problem"
    assert all("email_1" not in text and "tag_1" not in text for text in said), said
