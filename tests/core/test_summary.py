"""The one-line descriptions on canvas cards."""

from __future__ import annotations

import pytest

from app.core.summary import step_summary


@pytest.mark.parametrize(
    ("step_type", "config", "expected"),
    [
        ("email", {"subject": "Welcome!", "body": ""}, "Welcome!"),
        ("email", {"subject": "", "body": ""}, "No subject yet"),
        ("delay", {"duration": "2 days"}, "Wait 2 days"),
        (
            "delay",
            {
                "duration": "1 day",
                "window": {
                    "weekdays": ["mon", "tue", "wed", "thu", "fri"],
                    "start": "09:00",
                    "end": "17:00",
                },
            },
            "Wait 1 day · Mon-Fri 09:00-17:00",
        ),
        ("delay", {"until": "weekday", "weekday": "monday", "time": "09:00"}, "Until Monday 09:00"),
        (
            "wait_until",
            {"conditions": [{"event": "clicked_link", "timeout": "3 days"}]},
            "Until clicked_link (up to 3 days)",
        ),
        ("wait_until", {"conditions": []}, "Choose what to wait for"),
        ("branch", {}, "Choose a condition"),
        ("branch", {"condition": {"type": "tag", "tag": "VIP"}}, "If tagged VIP"),
        (
            "branch",
            {
                "condition": {
                    "any": [
                        {"type": "segment", "segment": "Enterprise"},
                        {"not": {"type": "field", "field": "plan", "op": "exists"}},
                    ]
                }
            },
            "If in segment Enterprise or not (plan exists)",
        ),
        (
            "split",
            {"paths": [{"label": "a", "percent": 50}, {"label": "b", "percent": 50}]},
            "a 50% · b 50%",
        ),
        ("action", {"action": "add_tag", "tag": "High Intent"}, "Add tag High Intent"),
        ("action", {"action": "exit"}, "Exit the sequence"),
        ("goal", {"goal": "Booked Meeting"}, "Goal: Booked Meeting"),
        ("end", {}, "The sequence ends here"),
        ("delay", {"duration": None, "until": "weekday"}, "Not set up yet"),
    ],
)
def test_summaries(step_type: str, config: dict, expected: str) -> None:
    assert step_summary(step_type, config) == expected
