"""The v1 definition format: what parses, how it exports, and how problems are reported."""

import json
from itertools import pairwise
from typing import Any

import pytest
import yaml

from app.core.format.document import SequenceDefinition
from app.core.format.parse import (
    definition_to_dict,
    dump_json,
    dump_yaml,
    parse_definition,
    parse_step_snippet,
)
from app.core.format.problems import DefinitionError
from app.core.format.values import parse_clock_time
from app.core.graph import Problem
from app.core.steps.action import UpdateFieldAction
from app.core.steps.branch import BranchConfig
from app.core.steps.delay import DelayFor, DelayUntilDatetime, DelayUntilField, DelayUntilWeekday
from app.core.steps.email import EmailConfig
from app.core.steps.wait_until import WaitUntilConfig

# The spec's "Example: the seed's engagement branch", verbatim.
DEMO_BRANCH = """
{"format": "sequence/v1", "name": "Demo fast-track",
 "trigger": {"type": "manual"},
 "steps": [
  {"id": "step_1", "type": "email", "name": "Product Intro", "config": {"subject": "Meet the product", "body": "<p>Hi {{ contact.first_name }}, <a href=\\"https://example.com/book-demo\\">Book a demo</a></p>"}},
  {"id": "wait_3d", "type": "delay", "config": {"duration": "3 days"}},
  {"id": "clicked", "type": "branch", "config": {"type": "branch", "condition": {"type": "email_event", "email_step_id": "step_1", "event": "clicked_link", "link_url_contains": "/book-demo", "lookback_window": "3 days"}}},
  {"id": "tag", "type": "action", "config": {"action": "add_tag", "tag": "High Intent"}},
  {"id": "step_2a_sales", "type": "email", "name": "Calendar Link", "config": {"subject": "Pick a time", "body": "<p>Here is my calendar.</p>"}},
  {"id": "step_2b_nurture", "type": "email", "name": "Case Study", "config": {"subject": "How Acme did it", "body": "<p>A case study.</p>"}}
 ],
 "connections": [
  {"source": "step_1", "target": "wait_3d"},
  {"source": "wait_3d", "target": "clicked"},
  {"source": "clicked", "target": "tag", "label": "true"},
  {"source": "tag", "target": "step_2a_sales"},
  {"source": "clicked", "target": "step_2b_nurture", "label": "false"}
 ]}
"""  # noqa: E501 - verbatim from the spec

# The seed's two snippets, verbatim (including the lines holding only two spaces).
SEED_BRANCH_SNIPPET = "\n".join(
    [
        "step_config:",
        '  type: "branch"',
        "  condition:",
        '    type: "email_event"',
        '    email_step_id: "step_1"',
        '    event: "clicked_link"',
        '    link_url_contains: "/book-demo"',
        '    lookback_window: "3 days"',
        "  ",
        '  true_path_next: "step_2a_sales"',
        '  false_path_next: "step_2b_nurture"',
        "",
    ]
)
SEED_WAIT_SNIPPET = "\n".join(
    [
        "delay_config:",
        '  type: "wait_until"',
        "  conditions:",
        '    - event: "user_login"',
        '      timeout: "7 days"',
        "  ",
        "  on_timeout:",
        '    action: "send_reengagement_email"',
        "",
    ]
)

# The seed's Level 1 example: 3 emails with waits, trigger and exit rules, as a YAML file.
ONBOARDING_YAML = """
name: New User Onboarding
trigger:
  type: segment_join
  segment: New Signups
exit:
  on_reply: true
  goals: [Paid Subscription]
goals:
  - name: Paid Subscription
    when: {type: custom_event, event: subscription_paid}
re_enrollment: {mode: never}
steps:
  - id: welcome
    type: email
    name: Welcome & Getting Started
    config:
      subject: Welcome to PenguinMails!
      body: "<p>Hi {{ contact.first_name }}, welcome aboard.</p>"
  - id: wait_2d
    type: delay
    config:
      duration: 2 days
      window:
        weekdays: [mon, tue, wed, thu, fri]
        start: 9:00
        end: 17:00
        timezone: recipient
      if_window_missed: next_window
  - id: features
    type: email
    name: Key Features Overview
    config: {subject: 3 things you can do today, body: "<p>Three things.</p>"}
  - id: wait_3d
    type: delay
    config: {duration: 3 days}
  - id: pro_tips
    type: email
    name: Pro Tips & Best Practices
    config: {subject: Become a pro user, body: "<p>Tips.</p>"}
connections:
  - {source: welcome, target: wait_2d}
  - {source: wait_2d, target: features}
  - {source: features, target: wait_3d}
  - {source: wait_3d, target: pro_tips}
"""


def email(step_id: str, **config: Any) -> dict[str, Any]:
    return {
        "id": step_id,
        "type": "email",
        "config": {"subject": "Hi", "body": "<p>Hi</p>"} | config,
    }


def link(source: str, target: str, label: str | None = None) -> dict[str, Any]:
    return {"source": source, "target": target} | ({"label": label} if label else {})


def chain(*step_ids: str) -> list[dict[str, Any]]:
    return [link(a, b) for a, b in pairwise(step_ids)]


def definition(
    steps: list[dict[str, Any]], connections: list[dict[str, Any]] | None = None, **top: Any
) -> dict[str, Any]:
    return {"name": "Test", "steps": steps, "connections": connections or []} | top


def problems_of(source: Any) -> list[Problem]:
    with pytest.raises(DefinitionError) as caught:
        parse_definition(source)
    return caught.value.problems


def only_problem(source: Any) -> Problem:
    problems = problems_of(source)
    assert len(problems) == 1, problems
    return problems[0]


def assert_round_trips(defn: SequenceDefinition) -> None:
    assert parse_definition(dump_json(defn)) == defn
    assert parse_definition(dump_yaml(defn)) == defn
    assert parse_definition(definition_to_dict(defn)) == defn


def has_none(value: Any) -> bool:
    if isinstance(value, dict):
        return any(item is None or has_none(item) for item in value.values())
    return isinstance(value, list) and any(has_none(item) for item in value)


# --- What parses ----------------------------------------------------------------------------


def test_spec_demo_branch_parses_and_round_trips() -> None:
    defn = parse_definition(DEMO_BRANCH)
    assert [step.id for step in defn.steps][:3] == ["step_1", "wait_3d", "clicked"]
    branch = defn.steps[2]
    assert branch.type == "branch"
    assert isinstance(branch.config, BranchConfig)
    assert branch.config.condition.link_url_contains == "/book-demo"
    assert_round_trips(defn)


def test_export_is_canonical_json_ready() -> None:
    exported = definition_to_dict(parse_definition(DEMO_BRANCH))
    assert next(iter(exported)) == "format"
    assert exported["format"] == "sequence/v1"
    assert not has_none(exported)
    assert json.loads(json.dumps(exported)) == exported
    assert exported["steps"][1]["config"] == {"duration": "3 days"}
    assert exported["connections"][0] == {"source": "step_1", "target": "wait_3d"}


def test_yaml_export_is_plain_yaml_any_loader_reads_back() -> None:
    defn = parse_definition(ONBOARDING_YAML)
    assert yaml.safe_load(dump_yaml(defn)) == definition_to_dict(defn)


def test_seed_onboarding_flow_parses_from_yaml() -> None:
    defn = parse_definition(ONBOARDING_YAML)
    assert [step.type for step in defn.steps] == ["email", "delay", "email", "delay", "email"]
    assert defn.trigger.segment == "New Signups"
    assert defn.exit.on_reply is True
    wait = defn.steps[1].config
    assert isinstance(wait, DelayFor)
    assert wait.duration == "2 days"
    assert (wait.window.start, wait.window.end) == ("9:00", "17:00")
    assert_round_trips(defn)


def test_seed_branch_snippet_parses_verbatim() -> None:
    config = parse_step_snippet(SEED_BRANCH_SNIPPET)
    assert isinstance(config, BranchConfig)
    assert config.condition.email_step_id == "step_1"
    assert config.condition.lookback_window == "3 days"
    assert (config.true_path_next, config.false_path_next) == ("step_2a_sales", "step_2b_nurture")


def test_seed_wait_until_snippet_parses_verbatim() -> None:
    config = parse_step_snippet(SEED_WAIT_SNIPPET)
    assert isinstance(config, WaitUntilConfig)
    assert config.conditions[0].event == "user_login"
    assert config.conditions[0].timeout == "7 days"
    assert config.on_timeout.action == "send_reengagement_email"


def test_delay_snippet_without_type_is_a_delay() -> None:
    assert isinstance(parse_step_snippet({"delay_config": {"duration": "2 days"}}), DelayFor)


def test_snippet_problems_name_the_key() -> None:
    with pytest.raises(DefinitionError) as caught:
        parse_step_snippet({"step_config": {"type": "branch", "condition": {"type": "nope"}}})
    assert caught.value.first.field == "step_config.condition.type"
    with pytest.raises(DefinitionError, match="step_config or delay_config"):
        parse_step_snippet({"config": {}})
    with pytest.raises(DefinitionError, match="'type' is required"):
        parse_step_snippet({"step_config": {"subject": "x"}})


def test_seed_inline_paths_become_connections() -> None:
    steps = [
        email("step_1"),
        {"id": "wait", "type": "delay", "config": {"duration": "3 days"}},
        {
            "id": "clicked",
            "type": "branch",
            "config": yaml.safe_load(SEED_BRANCH_SNIPPET)["step_config"],
        },
        email("step_2a_sales"),
        email("step_2b_nurture"),
    ]
    defn = parse_definition(definition(steps, chain("step_1", "wait", "clicked")))
    assert [(c.source, c.target, c.label) for c in defn.connections[2:]] == [
        ("clicked", "step_2a_sales", "true"),
        ("clicked", "step_2b_nurture", "false"),
    ]
    assert "true_path_next" not in defn.steps[2].config_dict()
    assert_round_trips(defn)


def test_seed_on_timeout_becomes_timeout_connection() -> None:
    wait = {
        "id": "wait",
        "type": "wait_until",
        "config": yaml.safe_load(SEED_WAIT_SNIPPET)["delay_config"],
    }
    steps = [email("start"), wait, email("after_login"), email("send_reengagement_email")]
    connections = [link("start", "wait"), link("wait", "after_login", "met")]
    defn = parse_definition(definition(steps, connections))
    assert (defn.connections[-1].target, defn.connections[-1].label) == (
        "send_reengagement_email",
        "timeout",
    )
    assert defn.steps[1].config_dict() == {
        "type": "wait_until",
        "conditions": [{"event": "user_login", "timeout": "7 days"}],
    }


def test_inline_path_already_drawn_as_connection_is_not_doubled() -> None:
    steps = [
        {
            "id": "b",
            "type": "branch",
            "config": {"condition": {"type": "tag", "tag": "VIP"}, "true_path_next": "t"},
        },
        email("t"),
        email("f"),
    ]
    defn = parse_definition(definition(steps, [link("b", "t", "true"), link("b", "f", "false")]))
    assert len(defn.connections) == 2


def test_every_step_type_in_one_sequence() -> None:
    steps = [
        email("intro", text="Hi", from_name="Ann"),
        {"id": "wait", "type": "delay", "config": {"duration": "1 day"}},
        {
            "id": "wait_click",
            "type": "wait_until",
            "config": {
                "conditions": [
                    {
                        "event": "clicked_link",
                        "email_step_id": "intro",
                        "link_url_contains": "/demo",
                        "timeout": "3 days",
                    },
                    {"field": "company_size", "timeout": "7 days"},
                    {
                        "event": "visited_pricing",
                        "timeout": "2 days",
                        "properties": {"plan": "pro"},
                    },
                ]
            },
        },
        {
            "id": "is_big",
            "type": "branch",
            "config": {
                "condition": {"type": "field", "field": "company_size", "op": "gte", "value": 50}
            },
        },
        {
            "id": "ab",
            "type": "split",
            "name": "Random",
            "config": {"paths": [{"label": "a", "percent": 30}, {"label": "b", "percent": 70}]},
        },
        {"id": "tag", "type": "action", "config": {"action": "add_tag", "tag": "Big"}},
        {"id": "booked", "type": "goal", "config": {"goal": "Booked Meeting"}},
        {"id": "done", "type": "end", "position": {"x": 10, "y": 20}},
        {"id": "leave", "type": "action", "config": {"action": "exit"}},
    ]
    connections = [
        *chain("intro", "wait", "wait_click"),
        link("wait_click", "is_big", "met"),
        link("wait_click", "done", "timeout"),
        link("is_big", "ab", "true"),
        link("is_big", "leave", "false"),
        link("ab", "tag", "a"),
        link("ab", "booked", "b"),
        link("tag", "booked"),
        link("booked", "done"),
    ]
    defn = parse_definition(definition(steps, connections))
    assert [step.type for step in defn.steps] == [
        "email", "delay", "wait_until", "branch", "split", "action", "goal", "end", "action",
    ]  # fmt: skip
    assert defn.steps[7].config_dict() == {}
    assert defn.steps[7].position.x == 10
    assert_round_trips(defn)


@pytest.mark.parametrize(
    ("snippet", "model"),
    [
        (
            {
                "duration": "2 days",
                "window": {
                    "weekdays": ["mon"],
                    "start": "09:00",
                    "end": "17:00",
                    "timezone": "Europe/Paris",
                },
                "if_window_missed": "send_anyway",
            },
            DelayFor,
        ),
        ({"until": "weekday", "weekday": "monday", "time": "09:00"}, DelayUntilWeekday),
        (
            {
                "until": "weekday",
                "weekday": "friday",
                "time": "16:30",
                "timezone": "America/New_York",
            },
            DelayUntilWeekday,
        ),
        ({"until": "datetime", "at": "2026-12-01T09:00:00"}, DelayUntilDatetime),
        ({"until": "datetime", "at": "2026-12-01T09:00:00+01:00"}, DelayUntilDatetime),
        ({"until": "field", "field": "webinar_at", "offset": "-1 day"}, DelayUntilField),
        ({"until": "field", "field": "webinar_at"}, DelayUntilField),
    ],
)
def test_delay_forms(snippet: dict[str, Any], model: type) -> None:
    assert isinstance(parse_step_snippet({"delay_config": snippet}), model)


@pytest.mark.parametrize(
    "condition",
    [
        {"type": "email_event", "email_step_id": "s", "event": "opened"},
        {"type": "email_event", "email_step_id": "s", "event": "replied", "lookback_window": "P3D"},
        {
            "type": "event",
            "event": "visited_pricing",
            "lookback_window": "7 days",
            "properties": {"page": "/pricing"},
        },
        {"type": "field", "field": "company_size", "op": "exists"},
        {"type": "field", "field": "plan", "op": "contains", "value": "pro"},
        {"type": "segment", "segment": "Enterprise"},
        {"type": "tag", "tag": "High Intent"},
        {
            "all": [
                {"type": "tag", "tag": "a"},
                {"any": [{"not": {"type": "segment", "segment": "b"}}]},
            ]
        },
    ],
)
def test_branch_conditions(condition: dict[str, Any]) -> None:
    config = parse_step_snippet({"step_config": {"type": "branch", "condition": condition}})
    assert config.model_dump(mode="json")["condition"] == condition


@pytest.mark.parametrize(
    "config",
    [
        {"action": "add_tag", "tag": "x"},
        {"action": "remove_tag", "tag": "x"},
        {"action": "update_field", "field": "stage", "value": "lead"},
        {"action": "update_field", "field": "stage", "value": None},
        {"action": "move_to_sequence", "sequence": "Nurture"},
        {"action": "exit"},
    ],
)
def test_actions_export_as_written(config: dict[str, Any]) -> None:
    parsed = parse_step_snippet({"step_config": {"type": "action"} | config})
    assert parsed.model_dump(mode="json") == {"type": "action"} | config


def test_update_field_to_null_survives_the_round_trip() -> None:
    steps = [
        {
            "id": "clear",
            "type": "action",
            "config": {"action": "update_field", "field": "stage", "value": None},
        }
    ]
    defn = parse_definition(definition(steps))
    assert isinstance(defn.steps[0].config, UpdateFieldAction)
    assert defn.steps[0].config_dict()["value"] is None
    assert_round_trips(defn)


def test_ab_variants() -> None:
    variants = [
        {"key": "A", "weight": 50, "subject": "3 things"},
        {"key": "B", "weight": 50, "subject": "Your first week"},
    ]
    config = parse_step_snippet(
        {
            "step_config": {
                "type": "email",
                "subject": "s",
                "body": "b",
                "variants": variants,
                "ab_test": {"metric": "click_rate", "pick_winner_after": 200},
            }
        }
    )
    assert isinstance(config, EmailConfig)
    assert config.ab_test.pick_winner_after == 200


def test_defaults_fill_in_what_is_left_out() -> None:
    defn = parse_definition(definition([email("a")]))
    assert defn.format == "sequence/v1"
    assert defn.trigger.type == "manual"
    assert defn.settings.timezone == "UTC"
    assert defn.re_enrollment.mode == "never"
    assert (defn.exit.on_reply, defn.exit.goals) == (False, [])


def test_full_top_level() -> None:
    source = definition(
        [email("a")],
        trigger={"type": "api_event", "event": "trial_started", "properties": {"plan": "pro"}},
        goals=[
            {
                "name": "Booked",
                "when": {"type": "field_change", "field": "deal_stage", "equals": "Meeting Booked"},
                "action": {"type": "exit"},
            },
            {
                "name": "Visited",
                "when": {"type": "url_visit", "url_contains": "/confirmed"},
                "action": {"type": "move_to_sequence", "sequence": "Prep"},
            },
        ],
        exit={"on_reply": True, "goals": ["Booked"]},
        re_enrollment={"mode": "after_delay", "delay": "90 days", "max_times": 3},
        settings={
            "timezone": "Europe/Berlin",
            "from_email": "team@example.com",
            "from_name": "Team",
        },
        description="All of it",
    )
    defn = parse_definition(source)
    assert defn.goals[1].action.sequence == "Prep"
    assert_round_trips(defn)


def test_json_text_bytes_and_bom() -> None:
    text = json.dumps(definition([email("a")]))
    assert parse_definition(text) == parse_definition(("\ufeff" + text).encode())


def test_unquoted_yaml_dates_and_times_stay_text() -> None:
    source = """
name: Dated
steps:
  - id: wait
    type: delay
    config: {until: datetime, at: 2026-12-01T09:00:00}
  - id: monday
    type: delay
    config: {until: weekday, weekday: monday, time: 17:30}
connections:
  - {source: wait, target: monday}
"""
    defn = parse_definition(source)
    assert defn.steps[0].config.at == "2026-12-01T09:00:00"
    assert defn.steps[1].config.time == "17:30"


def test_unquoted_yaml_boolean_label_means_the_path() -> None:
    source = """
name: Labels
steps:
  - {id: b, type: branch, config: {condition: {type: tag, tag: x}}}
  - {id: yes_path, type: end}
  - {id: no_path, type: end}
connections:
  - {source: b, target: yes_path, label: true}
  - {source: b, target: no_path, label: false}
"""
    assert [c.label for c in parse_definition(source).connections] == ["true", "false"]


def test_clock_times() -> None:
    assert parse_clock_time("9:05").minute == 5
    with pytest.raises(ValueError, match="time of day"):
        parse_clock_time("24:00")


# --- What is refused, and how it is reported -----------------------------------------------


def test_unknown_step_type() -> None:
    problem = only_problem(definition([{"id": "a", "type": "emial", "config": {}}]))
    assert (problem.step, problem.field) == ("a", "type")
    assert problem.message.startswith("unknown step type 'emial'; expected one of email, delay,")


def test_missing_step_type() -> None:
    problem = only_problem(definition([{"id": "a", "config": {}}]))
    assert (problem.step, problem.field) == ("a", "type")


def test_bad_duration_names_step_and_field() -> None:
    problem = only_problem(
        definition([{"id": "wait_2d", "type": "delay", "config": {"duration": "2 dayz"}}])
    )
    assert (problem.step, problem.field) == ("wait_2d", "config.duration")
    assert problem.message == "'2 dayz' is not a duration such as '2 days' or 'PT4H'"


def test_unknown_key_is_an_error_with_a_suggestion() -> None:
    problem = only_problem(definition([email("a", subjct="typo")]))
    assert (problem.step, problem.field) == ("a", "config.subjct")
    assert problem.message == "unknown key 'subjct'; did you mean 'subject'?"


def test_unknown_top_level_key() -> None:
    problem = only_problem(definition([email("a")], trigers={"type": "manual"}))
    assert (problem.step, problem.field) == (None, "trigers")


def test_split_must_total_100() -> None:
    paths = [{"label": "a", "percent": 50}, {"label": "b", "percent": 40}]
    problem = only_problem(definition([{"id": "ab", "type": "split", "config": {"paths": paths}}]))
    assert (problem.step, problem.field) == ("ab", "config.paths")
    assert "90" in problem.message


def test_split_labels_must_be_unique() -> None:
    paths = [{"label": "a", "percent": 50}, {"label": "a", "percent": 50}]
    problem = only_problem(definition([{"id": "ab", "type": "split", "config": {"paths": paths}}]))
    assert "'a' is used more than once" in problem.message


def test_bad_time_zone_in_settings() -> None:
    problem = only_problem(definition([email("a")], settings={"timezone": "Mars/Olympus"}))
    assert (problem.step, problem.field) == (None, "settings.timezone")
    assert "IANA time zone" in problem.message


def test_bad_time_zone_in_window() -> None:
    window = {"weekdays": ["mon"], "start": "09:00", "end": "17:00", "timezone": "Europe/Pariss"}
    problem = only_problem(
        definition(
            [{"id": "w", "type": "delay", "config": {"duration": "1 day", "window": window}}]
        )
    )
    assert (problem.step, problem.field) == ("w", "config.window.timezone")


def test_bad_weekday() -> None:
    config = {"until": "weekday", "weekday": "funday", "time": "09:00"}
    problem = only_problem(definition([{"id": "w", "type": "delay", "config": config}]))
    assert (problem.step, problem.field) == ("w", "config.weekday")
    assert problem.message.startswith("'funday' is not allowed; expected 'monday', 'tuesday'")


def test_bad_window_weekday_and_hours() -> None:
    window = {"weekdays": ["monday"], "start": "17:00", "end": "09:00"}
    problem = only_problem(
        definition(
            [{"id": "w", "type": "delay", "config": {"duration": "1 day", "window": window}}]
        )
    )
    assert (problem.step, problem.field) == ("w", "config.window.weekdays[0]")
    window["weekdays"] = ["mon"]
    problem = only_problem(
        definition(
            [{"id": "w", "type": "delay", "config": {"duration": "1 day", "window": window}}]
        )
    )
    assert (problem.field, problem.message) == (
        "config.window.end",
        "end '09:00' must be later than start '17:00'",
    )


def test_unknown_until() -> None:
    problem = only_problem(
        definition([{"id": "w", "type": "delay", "config": {"until": "tomorrow"}}])
    )
    assert (problem.step, problem.field) == ("w", "config.until")


def test_unknown_action_and_condition_type() -> None:
    problem = only_problem(
        definition([{"id": "a", "type": "action", "config": {"action": "tag_it"}}])
    )
    assert (problem.field, problem.message[:21]) == ("config.action", "unknown action 'tag_i")
    condition = {"any": [{"type": "clicked"}]}
    problem = only_problem(
        definition([{"id": "b", "type": "branch", "config": {"condition": condition}}])
    )
    assert (problem.step, problem.field) == ("b", "config.condition.any[0].type")


def test_nested_condition_problem_is_located() -> None:
    condition = {
        "all": [
            {"type": "tag", "tag": "x"},
            {"not": {"type": "field", "field": "size", "op": "gt"}},
        ]
    }
    problem = only_problem(
        definition([{"id": "b", "type": "branch", "config": {"condition": condition}}])
    )
    assert (problem.step, problem.field) == ("b", "config.condition.all[1].not.value")


def test_email_event_wait_needs_its_email_step() -> None:
    config = {"conditions": [{"event": "opened", "timeout": "2 days"}]}
    problem = only_problem(definition([{"id": "w", "type": "wait_until", "config": config}]))
    assert (problem.step, problem.field) == ("w", "config.conditions[0].email_step_id")


def test_wait_condition_needs_event_or_field() -> None:
    config = {"conditions": [{"timeout": "2 days"}]}
    problem = only_problem(definition([{"id": "w", "type": "wait_until", "config": config}]))
    assert (problem.step, problem.field) == ("w", "config.conditions[0]")


def test_link_filter_only_for_clicks() -> None:
    condition = {
        "type": "email_event",
        "email_step_id": "a",
        "event": "opened",
        "link_url_contains": "/x",
    }
    problem = only_problem(
        definition([email("a"), {"id": "b", "type": "branch", "config": {"condition": condition}}])
    )
    assert problem.field == "config.condition.link_url_contains"


def test_invalid_step_id() -> None:
    problem = only_problem(definition([email("has space")]))
    assert (problem.step, problem.field) == ("has space", "id")


def test_step_without_id_is_located_by_index() -> None:
    problem = only_problem(definition([{"type": "end"}]))
    assert (problem.step, problem.field) == (None, "steps[0].id")


def test_re_enrollment_after_delay_needs_delay() -> None:
    problem = only_problem(definition([email("a")], re_enrollment={"mode": "after_delay"}))
    assert (problem.step, problem.field) == (None, "re_enrollment.delay")


def test_ab_test_needs_variants() -> None:
    problem = only_problem(definition([email("a", ab_test={"metric": "open_rate"})]))
    assert (problem.step, problem.field) == ("a", "config.ab_test")


def test_wrong_format_version() -> None:
    problem = only_problem(definition([email("a")], format="sequence/v2"))
    assert problem.field == "format"
    assert "'sequence/v1'" in problem.message


def test_dangling_connection_names_source_step() -> None:
    problem = only_problem(definition([email("a")], [link("a", "ghost")]))
    assert (problem.step, problem.field) == ("a", "connections[0].target")
    assert "ghost" in problem.message


def test_dangling_inline_path_names_the_inline_key() -> None:
    config = {
        "condition": {"type": "tag", "tag": "x"},
        "true_path_next": "ghost",
        "false_path_next": "f",
    }
    problem = only_problem(
        definition([{"id": "b", "type": "branch", "config": config}, email("f")])
    )
    assert (problem.step, problem.field) == ("b", "config.true_path_next")


def test_branch_missing_false_path() -> None:
    steps = [
        {"id": "b", "type": "branch", "config": {"condition": {"type": "tag", "tag": "x"}}},
        email("t"),
    ]
    problem = only_problem(definition(steps, [link("b", "t", "true")]))
    assert (problem.step, problem.field) == ("b", "connections")
    assert problem.message == "branch 'b' has no 'false' path"


def test_cycle_without_wait() -> None:
    steps = [
        email("a"),
        {"id": "tag", "type": "action", "config": {"action": "add_tag", "tag": "x"}},
    ]
    connections = [link("a", "tag"), link("tag", "a")]
    problem = only_problem(definition(steps, connections))
    assert problem.step == "a"
    assert "loop" in problem.message


def test_unreachable_step() -> None:
    problem = only_problem(definition([email("a"), email("b"), email("island")], [link("a", "b")]))
    assert problem.step == "island"
    assert problem.message == "step 'island' is unreachable from the start step 'a'"


def test_empty_steps() -> None:
    assert only_problem(definition([])).message == "a sequence needs at least one step"


def test_email_reference_must_be_an_email_step() -> None:
    condition = {"type": "email_event", "email_step_id": "wait", "event": "opened"}
    steps = [
        {"id": "wait", "type": "delay", "config": {"duration": "1 day"}},
        {
            "id": "b",
            "type": "branch",
            "config": {"condition": condition, "true_path_next": "t", "false_path_next": "t2"},
        },
        email("t"),
        email("t2"),
    ]
    problem = only_problem(definition(steps, [link("wait", "b")]))
    assert (problem.step, problem.field) == ("b", "config.condition.email_step_id")
    assert "delay step, not an email step" in problem.message


def test_goal_names() -> None:
    goal = {"name": "Paid", "when": {"type": "custom_event", "event": "paid"}}
    problems = problems_of(definition([email("a")], goals=[goal, goal], exit={"goals": ["Payed"]}))
    assert [p.field for p in problems] == ["goals[1].name", "exit.goals[0]"]


def test_exit_goal_may_name_a_goal_step() -> None:
    steps = [email("a"), {"id": "g", "type": "goal", "config": {"goal": "Booked"}}]
    parse_definition(definition(steps, [link("a", "g")], exit={"goals": ["Booked"]}))


def test_all_model_problems_are_reported_together() -> None:
    steps = [
        {"id": "a", "type": "delay", "config": {"duration": "soon"}},
        {"id": "b", "type": "emial"},
    ]
    problems = problems_of(definition(steps, name="", settings={"timezone": "Nowhere"}))
    assert [(p.step, p.field) for p in problems] == [
        (None, "name"),
        (None, "settings.timezone"),
        ("a", "config.duration"),
        ("b", "type"),
    ]


def test_all_graph_problems_are_reported_together() -> None:
    steps = [email("a"), email("b"), email("c")]
    problems = problems_of(
        definition(steps, [link("a", "b"), link("a", "c"), link("b", "nowhere")])
    )
    assert [(p.step, p.field) for p in problems] == [
        ("b", "connections[2].target"),
        ("a", "connections[1].label"),
    ]


def test_error_text_and_first() -> None:
    with pytest.raises(DefinitionError) as caught:
        parse_definition(
            definition([{"id": "w", "type": "delay", "config": {"duration": "2 dayz"}}])
        )
    assert caught.value.first.step == "w"
    assert (
        str(caught.value)
        == "step 'w', config.duration: '2 dayz' is not a duration such as '2 days' or 'PT4H'"
    )


def test_yaml_syntax_error_has_line() -> None:
    problem = only_problem("name: Broken\nsteps:\n  - id: a\n    type: [email\n")
    assert problem.message.startswith("invalid YAML at line ")


def test_json_syntax_error_has_line() -> None:
    problem = only_problem('{\n  "name": "x",\n  "steps": [,]\n}')
    assert problem.message.startswith("invalid JSON at line 3, column")


@pytest.mark.parametrize("source", ["", "- just\n- a list\n", "just text"])
def test_definition_must_be_a_mapping(source: str) -> None:
    assert "must be a mapping" in only_problem(source).message


def test_not_utf8() -> None:
    assert "UTF-8" in only_problem(b"name: \xff\xfe\xfa").message


def test_wait_until_config_on_a_delay_step_says_which_type_to_use() -> None:
    """The seed files wait_until under `delay_config`; here it is a step type of its own."""
    config = {"type": "wait_until", "conditions": [{"event": "user_login", "timeout": "7 days"}]}
    problem = only_problem(definition([{"id": "w", "type": "delay", "config": config}]))
    assert (problem.step, problem.field) == ("w", "config.type")
    assert "step of type 'wait_until'" in problem.message


def test_labels_fit_the_database_column() -> None:
    paths = [{"label": "x" * 51, "percent": 50}, {"label": "b", "percent": 50}]
    problem = only_problem(definition([{"id": "s", "type": "split", "config": {"paths": paths}}]))
    assert (problem.step, problem.field) == ("s", "config.paths[0].label")
