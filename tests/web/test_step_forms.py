"""Step and settings forms without a server: configs survive the trip through the form, and
bad input comes back as a message on the field that holds it."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from werkzeug.datastructures import MultiDict

from app.web.form_toolkit import FormData, compact, value_from_text, value_to_text
from app.web.settings_form import apply_settings_op, settings_from_form, settings_to_form
from app.web.steps import apply_step_op, config_from_form, form_from_config
from app.web.steps.email import email_preview_parts

ROUND_TRIPS: list[tuple[str, dict[str, Any]]] = [
    ("email", {"subject": "Hi {{ contact.first_name }}", "body": "<p>Hello</p>"}),
    ("email", {"subject": "", "body": ""}),  # drafts may be empty; the canvas flags them
    ("email", {"subject": "Quick question", "body": "<p>Hi</p>", "plain_text_only": True}),
    (
        "email",
        {
            "subject": "Main",
            "body": "<p>Main</p>\n<p>Two lines</p>",
            "text": "Main",
            "from_name": "Ann from Acme",
            "variants": [
                {"key": "A", "weight": 50, "subject": "3 things to do today"},
                {"key": "B", "weight": 50, "body": "<p>B</p>", "text": "B", "from_name": "Bo"},
            ],
            "ab_test": {
                "metric": "click_rate",
                "min_sends": 200,
                "confidence": 0.95,
                "max_duration": "14 days",
                "fallback": "best",
            },
        },
    ),
    (
        "email",
        {
            "subject": "Main",
            "body": "<p>Main</p>",
            "variants": [{"key": "A", "weight": 1}, {"key": "B", "weight": 3, "subject": "B"}],
            "ab_test": {
                "metric": "conversion_rate",
                "goal": "Paid",
                "attribution_window": "3 days",
                "min_sends": 50,
                "confidence": 0.975,
                "max_duration": None,
                "fallback": "keep_split",
            },
        },
    ),
    (
        "email",
        {
            "subject": "Split only",
            "body": "<p>No test</p>",
            "variants": [{"key": "A", "weight": 1}, {"key": "B", "weight": 1, "subject": "B"}],
        },
    ),
    ("delay", {"duration": "2 days"}),
    (
        "delay",
        {
            "duration": "PT4H",
            "window": {
                "weekdays": ["mon", "tue", "wed", "thu", "fri"],
                "start": "09:00",
                "end": "17:00",
                "timezone": "recipient",
            },
            "if_window_missed": "send_anyway",
        },
    ),
    ("delay", {"until": "weekday", "weekday": "monday", "time": "09:00"}),
    ("delay", {"until": "weekday", "weekday": "friday", "time": "16:30", "timezone": "Asia/Tokyo"}),
    ("delay", {"until": "datetime", "at": "2026-12-01T09:00:00", "timezone": "Europe/Paris"}),
    ("delay", {"until": "datetime", "at": "2026-12-01T09:00:00+01:00"}),
    ("delay", {"until": "field", "field": "webinar_at", "offset": "-1 day"}),
    (
        "delay",
        {
            "until": "field",
            "field": "webinar_at",
            "offset": "-7 days",
            "if_past": "skip_next_email",
        },
    ),
    ("delay", {"until": "datetime", "at": "2026-12-01T09:00:00Z", "if_past": "skip_next_email"}),
    (
        "wait_until",
        {
            "conditions": [
                {"event": "user_login", "timeout": "7 days", "properties": {"plan": "pro", "n": 3}},
                {"field": "company_size", "timeout": "7 days"},
                {
                    "event": "clicked_link",
                    "email_step_id": "step_1",
                    "link_url_contains": "/book-demo",
                    "timeout": "3 days",
                },
                {"event": "replied", "email_step_id": "step_1", "timeout": "1 week"},
                {
                    "event": "checkout",
                    "timeout": "1 day",
                    "match": {"cart_id": "{{ enrollment.trigger.properties.cart_id }}"},
                },
            ]
        },
    ),
    (
        "branch",
        {
            "condition": {
                "type": "email_event",
                "email_step_id": "step_1",
                "event": "clicked_link",
                "link_url_contains": "/book-demo",
                "lookback_window": "3 days",
            }
        },
    ),
    (
        "branch",
        {
            "condition": {
                "all": [
                    {"type": "event", "event": "visited_pricing", "lookback_window": "7 days"},
                    {"type": "event", "event": "signed_up", "properties": {"source": "ads"}},
                    {"type": "field", "field": "company_size", "op": "gte", "value": 50},
                    {"type": "field", "field": "zip", "op": "eq", "value": "02134"},
                    {"type": "field", "field": "code", "op": "eq", "value": "42"},
                    {"type": "field", "field": "trial", "op": "neq", "value": True},
                    {"type": "field", "field": "phone", "op": "exists"},
                    {
                        "not": {
                            "any": [
                                {"type": "segment", "segment": "Ent"},
                                {"type": "tag", "tag": "VIP"},
                            ]
                        }
                    },
                ]
            }
        },
    ),
    ("split", {"paths": [{"label": "a", "percent": 34}, {"label": "b", "percent": 66}]}),
    ("action", {"action": "add_tag", "tag": "High Intent"}),
    ("action", {"action": "remove_tag", "tag": "Cold"}),
    ("action", {"action": "update_field", "field": "score", "value": 10}),
    ("action", {"action": "update_field", "field": "plan", "value": None}),
    ("action", {"action": "move_to_sequence", "sequence": "Pre-meeting Prep"}),
    ("action", {"action": "exit"}),
    ("goal", {"goal": "Booked Meeting"}),
    ("end", {}),
]


def errors_for(step_type: str, values: dict[str, Any]) -> dict[str, str]:
    config, form = config_from_form(step_type, MultiDict(values))
    assert config is None, "invalid input gives no config"
    return form.errors


# --- round trips --------------------------------------------------------------------------------


@pytest.mark.parametrize(("step_type", "config"), ROUND_TRIPS)
def test_a_config_comes_back_unchanged_through_its_form(step_type, config):
    form = form_from_config(step_type, config, name="My step")

    assert all(isinstance(v, str) for v in form.values.values()), "forms hold text"
    again, read_back = config_from_form(step_type, form.values)

    assert read_back.errors == {}
    assert again == config
    assert read_back.get("name") == "My step"


def test_window_defaults_are_shown_and_stored_explicitly():
    config = {"duration": "1 day", "window": {"start": "9:00", "end": "17:00"}}
    form = form_from_config("delay", config)
    assert form.getlist("window.weekdays") == ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
    assert form.get("window.start") == "09:00", "time inputs need two-digit hours"
    assert form.get("window.timezone") == "recipient"
    assert form.get("if_window_missed") == "next_window"
    saved, _ = config_from_form("delay", form.values)
    assert saved is not None and saved["if_window_missed"] == "next_window"


def test_new_steps_show_a_first_row_to_fill_in():
    assert form_from_config("wait_until", {"conditions": []}).rows("conditions") == [0]
    assert form_from_config("branch", {}).get("cond.kind") == "email_event"


def test_fields_of_another_mode_are_ignored():
    values = MultiDict(
        {"until": "weekday", "weekday": "monday", "time": "09:00", "duration": "3 months"}
    )
    config, form = config_from_form("delay", values)
    assert form.errors == {}
    assert config == {"until": "weekday", "weekday": "monday", "time": "09:00"}


def test_textareas_keep_their_text_with_unix_line_ends():
    values = MultiDict({"subject": " Hi ", "body": "<p>a</p>\r\n<p>b</p>\r\n", "text": "  "})
    config, _ = config_from_form("email", values)
    assert config == {"subject": "Hi", "body": "<p>a</p>\n<p>b</p>\n"}


# --- typed values -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("42", 42),
        ("-3.5", -3.5),
        ("true", True),
        ("false", False),
        ("null", None),
        ("", None),
        ("  ", None),
        ('"42"', "42"),
        ('""', ""),
        ("Enterprise", "Enterprise"),
        (" padded ", "padded"),
        ("007", "007"),  # not a JSON number: kept as text
        ("NaN", "NaN"),
        ("[1, 2]", [1, 2]),
        ('{"a": 1}', {"a": 1}),
        ("{not json", "{not json"),
    ],
)
def test_typed_text_becomes_a_json_value(text, value):
    assert value_from_text(text) == value
    assert type(value_from_text(text)) is type(value)


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=8,
)


@given(json_values)
def test_every_json_value_survives_its_text(value):
    read = value_from_text(value_to_text(value))
    assert json.dumps(read, sort_keys=True) == json.dumps(value, sort_keys=True)


# --- errors -------------------------------------------------------------------------------------


def test_email_errors_point_at_their_fields():
    errors = errors_for(
        "email",
        {
            "subject": "s",
            "body": "b",
            "variants.0.key": "A",
            "variants.0.weight": "lots",
            "ab_test.min_sends": "100",
        },
    )
    assert "valid integer" in errors["variants.0.weight"]
    assert errors["ab_test.metric"] == "choose the metric that picks the winner"

    single = errors_for(
        "email", {"subject": "", "body": "", "variants.0.key": "A", "variants.0.weight": "1"}
    )
    assert single["variants"] == "A/B testing needs at least two variants"


TWO_VARIANTS = {
    "subject": "s",
    "body": "b",
    "variants.0.key": "A",
    "variants.0.weight": "1",
    "variants.1.key": "B",
    "variants.1.weight": "1",
}


@pytest.mark.parametrize(
    ("typed", "field", "message"),
    [
        ({"ab_test.confidence": "120"}, "ab_test.confidence", "from 50 to 99.9"),
        ({"ab_test.confidence": "very"}, "ab_test.confidence", "such as 95"),
        ({"ab_test.min_sends": "0"}, "ab_test.min_sends", "greater than or equal to 1"),
        ({"ab_test.max_duration": "soon"}, "ab_test.max_duration", "soon"),
        ({"ab_test.metric": "conversion_rate"}, "ab_test.goal", "needs the 'goal' it counts"),
        ({"ab_test.fallback": "coin"}, "ab_test.fallback", "best"),
    ],
)
def test_a_bad_ab_test_setting_is_reported_on_its_own_field(typed, field, message):
    errors = errors_for("email", TWO_VARIANTS | {"ab_test.metric": "click_rate"} | typed)
    assert message in errors[field], errors


def test_a_first_wave_pick_winner_after_is_shown_as_min_sends_and_saved_with_the_defaults():
    stored = {
        "subject": "s",
        "body": "b",
        "variants": [{"key": "A", "weight": 1}, {"key": "B", "weight": 1}],
        "ab_test": {"metric": "open_rate", "pick_winner_after": 300},
    }
    form = form_from_config("email", stored)
    assert form.get("ab_test.min_sends") == "300"
    assert form.get("ab_test.confidence") == "95"
    config, _ = config_from_form("email", form.values)
    assert config["ab_test"] == {
        "metric": "open_rate",
        "min_sends": 300,
        "confidence": 0.95,
        "max_duration": "14 days",
        "fallback": "best",
    }


def test_choosing_a_metric_fills_the_tests_boxes_with_the_formats_defaults():
    chosen = apply_step_op(
        "email", MultiDict(TWO_VARIANTS | {"ab_test.metric": "reply_rate"}), "refresh"
    )
    assert [chosen[f"ab_test.{name}"] for name in ("min_sends", "confidence", "max_duration")] == [
        "200",
        "95",
        "14 days",
    ]
    assert chosen["ab_test.fallback"] == "best"
    typed = apply_step_op(
        "email",
        MultiDict(TWO_VARIANTS | {"ab_test.metric": "reply_rate", "ab_test.max_duration": ""}),
        "refresh",
    )
    assert typed["ab_test.max_duration"] == "", "an emptied box stays empty: no time limit"
    assert (
        apply_step_op("email", MultiDict(TWO_VARIANTS), "refresh").get("ab_test.min_sends") is None
    )


def test_delay_errors_point_at_their_fields():
    errors = errors_for(
        "delay",
        {
            "duration": "3 months",
            "window.enabled": "on",
            "window.start": "09:00",
            "window.end": "17:00",
            "window.timezone": "Mars/Olympus",
        },
    )
    assert "months or years" in errors["duration"]
    assert errors["window.weekdays"] == "choose at least one day"
    assert "not an IANA time zone" in errors["window.timezone"]

    late = errors_for(
        "delay",
        {
            "duration": "1 day",
            "window.enabled": "on",
            "window.weekdays": "mon",
            "window.start": "18:00",
            "window.end": "09:00",
        },
    )
    assert late == {"window.end": "end '09:00' must be later than start '18:00'"}
    assert (
        "not a time of day"
        in errors_for("delay", {"until": "weekday", "weekday": "monday", "time": "25:00"})["time"]
    )
    assert "ISO 8601" in errors_for("delay", {"until": "datetime", "at": "next monday"})["at"]
    assert errors_for("delay", {"until": "field", "field": " "}) == {"field": "must not be empty"}
    assert "unknown 'until' value" in errors_for("delay", {"until": "someday"})["until"]


def test_wait_until_errors_point_at_their_rows():
    errors = errors_for(
        "wait_until",
        {
            "conditions.0.kind": "email",
            "conditions.0.email_event": "opened",
            "conditions.0.timeout": "3 dayz",
            "conditions.1.kind": "event",
            "conditions.1.event": "clicked_link",
            "conditions.1.timeout": "1 day",
        },
    )
    assert errors == {
        "conditions.0.timeout": "'3 dayz' is not a duration such as '2 days' or 'PT4H'",
        "conditions.1.event": "'clicked_link' is an email event; choose Email",
    }
    no_step = {"conditions.0.kind": "email", "conditions.0.email_event": "opened"}
    errors = errors_for("wait_until", no_step | {"conditions.0.timeout": "1 day"})
    assert errors == {"conditions.0.email_step_id": "email event 'opened' needs 'email_step_id'"}
    assert errors_for("wait_until", {}) == {"conditions": "add at least one condition to wait for"}


def test_branch_errors_point_into_the_condition_tree():
    errors = errors_for(
        "branch",
        {
            "cond.kind": "all",
            "cond.items.0.kind": "field",
            "cond.items.0.field": "",
            "cond.items.0.op": "eq",
            "cond.items.1.kind": "not",
            "cond.items.1.items.0.kind": "field",
            "cond.items.1.items.0.field": "size",
            "cond.items.1.items.0.op": "gt",
            "cond.items.1.items.0.value": "",
            "cond.items.2.kind": "any",
            "cond.items.3.kind": "email_event",
            "cond.items.3.event": "opened",
            "cond.items.3.lookback_window": "soon",
        },
    )
    assert errors == {
        "cond.items.0.field": "must not be empty",
        "cond.items.1.items.0.value": "op 'gt' needs a 'value' to compare with",
        "cond.items.2.items": "add at least one condition to this group",
        "cond.items.3.email_step_id": "must not be empty",
        "cond.items.3.lookback_window": "'soon' is not a duration such as '2 days' or 'PT4H'",
    }

    two = errors_for(
        "branch",
        {
            "cond.kind": "not",
            "cond.items.0.kind": "tag",
            "cond.items.0.tag": "a",
            "cond.items.1.kind": "tag",
            "cond.items.1.tag": "b",
        },
    )
    assert "exactly one condition" in two["cond.items"]
    assert (
        "unknown condition type 'weather'"
        in errors_for("branch", {"cond.kind": "weather"})["cond.kind"]
    )


def test_property_rows_need_distinct_names():
    errors = errors_for(
        "branch",
        {
            "cond.kind": "event",
            "cond.event": "paid",
            "cond.props.0.key": "plan",
            "cond.props.0.value": "pro",
            "cond.props.1.key": "plan",
            "cond.props.1.value": "team",
            "cond.props.2.key": "",
            "cond.props.2.value": "orphan",
        },
    )
    assert errors == {
        "cond.props.1.key": "property 'plan' is given twice",
        "cond.props.2.key": "a property needs a name",
    }


def test_split_errors_name_the_total_and_the_row():
    total = errors_for(
        "split",
        {
            "paths.0.label": "a",
            "paths.0.percent": "50",
            "paths.1.label": "b",
            "paths.1.percent": "45",
        },
    )
    assert total == {"paths": "path percentages add up to 95; they must total 100"}
    rows = errors_for(
        "split",
        {
            "paths.0.label": "",
            "paths.0.percent": "half",
            "paths.1.label": "b",
            "paths.1.percent": "",
        },
    )
    assert rows["paths.0.label"] == "must not be empty"
    assert "valid integer" in rows["paths.0.percent"]
    assert rows["paths.1.percent"] == "give this path a share, such as 50"
    one = errors_for("split", {"paths.0.label": "a", "paths.0.percent": "100"})
    assert one == {"paths": "a split needs at least two paths"}


def test_action_and_goal_errors():
    assert errors_for("action", {"action": "add_tag", "tag": " "}) == {"tag": "must not be empty"}
    assert errors_for("action", {"action": "move_to_sequence"}) == {"sequence": "must not be empty"}
    assert "unknown action 'explode'" in errors_for("action", {"action": "explode"})["action"]
    assert errors_for("goal", {"goal": ""}) == {"goal": "must not be empty"}


def test_a_long_step_name_is_refused():
    assert errors_for("end", {"name": "x" * 256}) == {"name": "at most 255 characters, got 256"}


def test_errors_not_shown_next_to_a_field_are_left_for_the_summary():
    form = FormData(MultiDict(), {"subject": "bad", "somewhere": "also bad"})
    assert form.error("subject") == "bad"
    assert form.leftover_errors() == [("somewhere", "also bad")]


# --- adding and removing rows -------------------------------------------------------------------


def test_rows_are_added_with_defaults_and_typed_values_kept():
    values = MultiDict({"paths.0.label": "typed", "paths.0.percent": "60"})
    added = apply_step_op("split", values, "add:paths")
    assert added["paths.0.label"] == "typed"
    assert added["paths.1.label"] == "" and FormData(added).rows("paths") == [0, 1]
    assert (
        apply_step_op("wait_until", MultiDict(), "add:conditions")["conditions.0.kind"] == "event"
    )
    with_property = apply_step_op("branch", MultiDict({"cond.kind": "event"}), "add:cond.props")
    assert with_property["cond.props.0.key"] == ""
    assert apply_settings_op(MultiDict(), "add:goals")["goals.0.when"] == "field_change"


def test_the_enrollments_own_event_gets_a_new_match_row_like_properties_do():
    typed = {
        "conditions.0.kind": "event",
        "conditions.0.event": "paid",
        "conditions.0.timeout": "2 days",
    }
    added = apply_step_op("wait_until", MultiDict(typed), "add:conditions.0.match")
    assert added["conditions.0.match.0.key"] == ""
    added["conditions.0.match.0.key"] = "cart_id"
    added["conditions.0.match.0.value"] = "{{ enrollment.trigger.properties.cart_id }}"
    config, form = config_from_form("wait_until", added)
    assert form.errors == {}
    assert config == {
        "conditions": [
            {
                "event": "paid",
                "timeout": "2 days",
                "match": {"cart_id": "{{ enrollment.trigger.properties.cart_id }}"},
            }
        ]
    }


def test_removing_a_row_renumbers_the_rest_with_their_nested_rows():
    values = MultiDict(
        {
            "cond.kind": "all",
            "cond.items.0.kind": "tag",
            "cond.items.1.kind": "any",
            "cond.items.1.items.0.kind": "tag",
            "cond.items.1.items.0.tag": "kept",
            "cond.items.2.kind": "segment",
        }
    )
    removed = apply_step_op("branch", values, "remove:cond.items.0")
    assert removed.to_dict() == {
        "cond.kind": "all",
        "cond.items.0.kind": "any",
        "cond.items.0.items.0.kind": "tag",
        "cond.items.0.items.0.tag": "kept",
        "cond.items.1.kind": "segment",
    }


def test_a_window_switched_on_starts_on_weekdays_nine_to_five():
    values = apply_step_op(
        "delay", MultiDict({"duration": "2 days", "window.enabled": "on"}), "refresh"
    )
    config, form = config_from_form("delay", values)
    assert form.errors == {}
    assert config == {
        "duration": "2 days",
        "window": {
            "weekdays": ["mon", "tue", "wed", "thu", "fri"],
            "start": "09:00",
            "end": "17:00",
            "timezone": "recipient",
        },
        "if_window_missed": "next_window",
    }
    typed = MultiDict({"window.enabled": "on", "window.start": "10:00"})
    assert apply_step_op("delay", typed, "refresh") == typed, "a window being edited is left alone"


def test_a_group_starts_with_one_condition():
    grouped = apply_step_op("branch", MultiDict({"cond.kind": "all"}), "group:cond.items")
    assert grouped["cond.items.0.kind"] == "all"
    assert grouped["cond.items.0.items.0.kind"] == "email_event"


@pytest.mark.parametrize("op", ["refresh", "add:unknown", "group:paths", "drop:paths.0", "add:"])
def test_other_operations_change_nothing(op):
    values = MultiDict(
        [("paths.0.label", "a"), ("window.weekdays", "mon"), ("window.weekdays", "tue")]
    )
    assert apply_step_op("split", values, op) == values


def test_compact_numbers_rows_in_their_order():
    values = MultiDict([("paths.7.label", "x"), ("paths.3.label", "y"), ("paths.3.percent", "5")])
    assert compact(values).to_dict() == {
        "paths.1.label": "x",
        "paths.0.label": "y",
        "paths.0.percent": "5",
    }


# --- email preview ------------------------------------------------------------------------------


def test_the_preview_uses_posted_fields_else_the_stored_step():
    stored = {
        "subject": "Stored",
        "body": "<p>Stored</p>",
        "variants": [
            {"key": "A", "weight": 1, "subject": "SA", "text": "Text A"},
            {"key": "B", "weight": 1, "body": "  "},
        ],
    }
    assert email_preview_parts(MultiDict({"subject": "Typed", "body": "<p>T</p>"}), stored) == (
        "Typed",
        "<p>T</p>",
        None,
    )
    assert email_preview_parts(MultiDict(), stored) == ("Stored", "<p>Stored</p>", None)
    chosen = MultiDict({"preview.variant": "A"})
    assert email_preview_parts(chosen, stored) == ("SA", "<p>Stored</p>", "Text A")
    blank_body = MultiDict({"preview.variant": "B"})
    assert email_preview_parts(blank_body, stored) == ("Stored", "<p>Stored</p>", None)


# --- sequence settings --------------------------------------------------------------------------

SETTINGS = {
    "name": "Onboarding",
    "description": "Welcome",
    "trigger": {
        "type": "api_event",
        "event": "signed_up",
        "properties": {"plan": "pro", "seats": 5},
    },
    "goals": [
        {
            "name": "Booked Meeting",
            "when": {"type": "field_change", "field": "deal_stage", "equals": "Meeting Booked"},
            "action": {"type": "move_to_sequence", "sequence": "Pre-meeting Prep"},
        },
        {
            "name": "Seats",
            "when": {"type": "field_change", "field": "seats", "equals": 10},
            "action": {"type": "exit"},
        },
        {
            "name": "Confirmed",
            "when": {"type": "url_visit", "url_contains": "/meeting-confirmed"},
            "action": {"type": "exit"},
        },
        {
            "name": "Paid",
            "when": {"type": "custom_event", "event": "paid"},
            "action": {"type": "exit"},
        },
    ],
    "exit": {"on_reply": True, "goals": ["Paid"]},
    "re_enrollment": {"mode": "after_delay", "delay": "90 days", "max_times": 3},
    "settings": {
        "timezone": "Europe/Paris",
        "from_email": "team@acme.test",
        "from_name": "Acme",
        "sending_hours": {
            "weekdays": ["mon", "tue", "wed", "thu", "fri"],
            "start": "09:00",
            "end": "17:00",
            "timezone": "recipient",
        },
        "reply_to": "inbox@acme.test",
        "on_send_failure": "skip",
        "holdout_percent": 20,
        "open_tracking": False,
    },
}


@pytest.mark.parametrize(
    "trigger",
    [
        {"type": "segment_join", "segment": "New Signups"},
        {"type": "form_submission", "form": "Ebook Download"},
        {"type": "manual"},
        SETTINGS["trigger"],
    ],
)
def test_settings_come_back_unchanged_through_their_form(trigger):
    data = SETTINGS | {"trigger": trigger}
    again, form = settings_from_form(settings_to_form(data).values, ["Paid"])
    assert form.errors == {}
    assert again == data


def test_missing_settings_get_defaults():
    data, _ = settings_from_form(settings_to_form({"name": "Bare"}).values, [])
    assert data == {
        "name": "Bare",
        "description": None,
        "trigger": None,  # no type is preselected: the checklist asks for one
        "goals": [],
        "exit": {"on_reply": False, "goals": []},
        "re_enrollment": {"mode": "never"},
        "settings": {"timezone": "UTC"},
    }


def test_re_enrollment_boxes_that_do_not_apply_are_ignored():
    values = settings_to_form(SETTINGS).values
    values["re_enrollment.mode"] = "never"
    data, _ = settings_from_form(values, ["Paid"])
    assert data is not None and data["re_enrollment"] == {"mode": "never"}
    values["re_enrollment.mode"] = "always"
    data, _ = settings_from_form(values, ["Paid"])
    assert data is not None and data["re_enrollment"] == {"mode": "always", "max_times": 3}


def test_settings_errors_point_at_their_fields():
    values = settings_to_form(SETTINGS).values
    typed = {
        "name": "",
        "trigger.event": "",
        "trigger.props.1.key": "",
        "re_enrollment.delay": "",
        "re_enrollment.max_times": "0",
        "settings.timezone": "Nowhere/City",
        "settings.from_email": "team-at-acme",
        "settings.holdout_percent": "60",
    }
    for key, value in typed.items():
        values[key] = value
    values.setlist("exit.goals", ["Paid", "Gone"])
    data, form = settings_from_form(values, ["Paid"])
    assert data is None
    assert form.errors == {
        "exit.goals": "'Gone' is not a goal of this sequence",
        "trigger.props.1.key": "a property needs a name",
        "name": "must not be empty",
        "trigger.event": "must not be empty",
        "re_enrollment.delay": "a duration is required, such as '2 days' or 'PT4H'",
        "re_enrollment.max_times": "should be greater than or equal to 1, got 0",
        "settings.timezone": (
            "'Nowhere/City' is not an IANA time zone such as 'Europe/Paris' or 'UTC'"
        ),
        "settings.from_email": "'team-at-acme' is not an email address: "
        "an email address must have an @-sign",
        "settings.holdout_percent": "should be less than or equal to 50, got 60",
    }


@pytest.mark.parametrize(("typed", "stored"), [("0", 0), ("50", 50), ("", None)])
def test_the_holdout_share_is_stored_as_typed_and_an_empty_box_means_none(typed, stored):
    values = settings_to_form(SETTINGS).values
    values["settings.holdout_percent"] = typed
    data, form = settings_from_form(values, ["Paid"])
    assert form.errors == {}
    assert data is not None and data["settings"].get("holdout_percent") == stored
