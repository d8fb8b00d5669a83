"""The publish plan: where the contacts in flight go when a new version removes or changes
the steps they are on (pure: counts in, plan out)."""

from __future__ import annotations

import copy
from typing import Any

from app.core.migration_plan import plan_migration
from app.core.version_diff import diff_definitions


def three_emails() -> dict[str, Any]:
    return {
        "format": "sequence/v1",
        "name": "Three emails",
        "steps": [
            {
                "id": "email_1",
                "type": "email",
                "name": "Welcome",
                "config": {"subject": "Hi", "body": "<p>1</p>"},
            },
            {"id": "delay_1", "type": "delay", "name": "Wait 1", "config": {"duration": "2 days"}},
            {
                "id": "email_2",
                "type": "email",
                "name": "Tips",
                "config": {"subject": "Tips", "body": "<p>2</p>"},
            },
            {"id": "delay_2", "type": "delay", "name": "Wait 2", "config": {"duration": "3 days"}},
            {
                "id": "email_3",
                "type": "email",
                "name": "Offer",
                "config": {"subject": "Offer", "body": "<p>3</p>"},
            },
        ],
        "connections": [
            {"source": "email_1", "target": "delay_1", "label": None},
            {"source": "delay_1", "target": "email_2", "label": None},
            {"source": "email_2", "target": "delay_2", "label": None},
            {"source": "delay_2", "target": "email_3", "label": None},
        ],
    }


def without_delay_2() -> dict[str, Any]:
    new = three_emails()
    new["steps"] = [s for s in new["steps"] if s["id"] != "delay_2"]
    new["connections"] = [
        c for c in new["connections"] if "delay_2" not in (c["source"], c["target"])
    ]
    new["connections"].append({"source": "email_2", "target": "email_3", "label": None})
    new["steps"][2]["config"]["subject"] = "Better tips"
    return new


def test_a_removed_step_with_contacts_and_no_choice_is_a_problem_naming_it_and_its_count():
    plan = plan_migration(three_emails(), without_delay_2(), {"delay_1": 5, "delay_2": 312}, {})
    assert not plan.ready
    [problem] = plan.problems
    assert problem.field == "migrate.delay_2" and problem.step == "delay_2"
    assert "312 contact(s) are on 'Wait 2' (delay_2)" in problem.message
    [removed] = plan.removed
    assert (removed.step, removed.contacts, removed.action) == ("delay_2", 312, None)


def test_contacts_on_a_removed_step_move_to_the_chosen_step_and_the_others_keep_theirs():
    plan = plan_migration(
        three_emails(), without_delay_2(), {"delay_1": 5, "delay_2": 312}, {"delay_2": "email_3"}
    )
    assert plan.ready
    by_step = {e.step: e for e in plan.entries}
    assert by_step["delay_1"].action == "keep" and by_step["delay_1"].contacts == 5
    assert by_step["delay_2"].action == "move" and by_step["delay_2"].target == "email_3"
    assert by_step["delay_2"].detail == "they move to 'Offer' (email_3)"


def test_exit_and_stay_are_the_other_choices_and_a_removed_step_nobody_is_on_needs_none():
    for choice in ("exit", "stay"):
        plan = plan_migration(
            three_emails(), without_delay_2(), {"delay_2": 1}, {"delay_2": choice}
        )
        assert plan.ready and plan.removed[0].action == choice
    plan = plan_migration(three_emails(), without_delay_2(), {"delay_1": 3}, {})
    assert plan.ready and plan.removed[0].contacts == 0


def test_a_changed_delay_with_contacts_is_retimed_and_says_from_what_to_what():
    new = three_emails()
    new["steps"][1]["config"]["duration"] = "5 days"
    plan = plan_migration(three_emails(), new, {"delay_1": 7}, {})
    [entry] = plan.entries
    assert entry.action == "retime"
    assert "2 days" in entry.detail and "5 days" in entry.detail
    assert "recomputed from when each contact entered" in entry.detail


def test_a_choice_for_a_kept_or_unknown_step_or_an_unknown_target_is_refused_by_field():
    plan = plan_migration(
        three_emails(),
        without_delay_2(),
        {"delay_2": 2},
        {"delay_1": "exit", "nope": "exit", "delay_2": "delay_2"},
    )
    fields = {p.field: p.message for p in plan.problems}
    assert "kept by the new version" in fields["migrate.delay_1"]
    assert "not a step of the live version" in fields["migrate.nope"]
    assert "choose a step id of the new version" in fields["migrate.delay_2"]


def test_the_diff_lists_added_removed_and_changed_steps_with_their_changed_fields():
    diff = diff_definitions(three_emails(), without_delay_2())
    status = {d.step: (d.status, d.fields) for d in diff.steps}
    assert status["delay_2"] == ("removed", ())
    assert status["email_2"] == ("changed", ("config.subject", "next"))
    assert "email_1" not in status  # unchanged
    assert ("email_2", "email_3", None) in diff.connections_added
    assert ("delay_2", "email_3", None) in diff.connections_removed
    added = copy.deepcopy(three_emails())
    added["steps"].append({"id": "goal_1", "type": "goal", "config": {"goal": "paid"}})
    assert diff_definitions(three_emails(), added).keys("added") == {"goal_1"}


def test_moving_a_step_on_the_canvas_is_not_a_change():
    moved = three_emails()
    moved["steps"][0]["position"] = {"x": 400, "y": 90}
    assert diff_definitions(three_emails(), moved).empty
