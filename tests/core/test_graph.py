"""Graph rules, exercised both on parsed models and on plain objects (as the DB layer has)."""

from dataclasses import dataclass, field
from typing import Any

import pytest

from app.core.format.document import SequenceDefinition
from app.core.graph import (
    Problem,
    entry_step_id,
    graph_warnings,
    outgoing_labels,
    validate_graph,
)
from app.core.steps import STEP_TYPES, WAITING_STEP_TYPES


@dataclass
class Row:
    """A step as a database row might carry it."""

    id: str
    type: str
    config: dict[str, Any] = field(default_factory=dict)

    def config_dict(self) -> dict[str, Any]:
        return self.config


@dataclass
class Edge:
    source: str
    target: str
    label: str | None = None


@dataclass
class Graph:
    steps: list[Row]
    connections: list[Edge]


def model(steps: list[dict[str, Any]], connections: list[dict[str, Any]]) -> SequenceDefinition:
    """A definition validated as a model only, so graph mistakes survive to be checked here."""
    return SequenceDefinition.model_validate(
        {"name": "G", "steps": steps, "connections": connections}
    )


def email(step_id: str) -> dict[str, Any]:
    return {"id": step_id, "type": "email", "config": {"subject": "s", "body": "b"}}


def delay(step_id: str) -> dict[str, Any]:
    return {"id": step_id, "type": "delay", "config": {"duration": "1 day"}}


def branch_on(step_id: str, email_id: str) -> dict[str, Any]:
    condition = {"type": "email_event", "email_step_id": email_id, "event": "clicked_link"}
    return {"id": step_id, "type": "branch", "config": {"condition": condition}}


def to(source: str, target: str, label: str | None = None) -> dict[str, Any]:
    return {"source": source, "target": target, "label": label}


def where(problems: list[Problem]) -> list[tuple[str | None, str | None]]:
    return [(problem.step, problem.field) for problem in problems]


def test_constants() -> None:
    assert set(WAITING_STEP_TYPES) == {"delay", "wait_until"}
    assert STEP_TYPES[0] == "email"
    assert len(set(STEP_TYPES)) == 9


@pytest.mark.parametrize(
    ("step", "labels"),
    [
        (Row("e", "email"), {None}),
        (Row("d", "delay"), {None}),
        (Row("g", "goal"), {None}),
        (Row("a", "action", {"action": "add_tag", "tag": "x"}), {None}),
        (Row("a", "action", {"action": "exit"}), set()),
        (Row("a", "action", {"action": "move_to_sequence", "sequence": "s"}), set()),
        (Row("b", "branch"), {"true", "false"}),
        (Row("w", "wait_until"), {"met", "timeout"}),
        (Row("s", "split", {"paths": [{"label": "x"}, {"label": "y"}]}), {"x", "y"}),
        (Row("end", "end"), set()),
    ],
)
def test_outgoing_labels(step: Row, labels: set[str | None]) -> None:
    assert outgoing_labels(step) == labels


def test_entry_step_is_first_without_incoming() -> None:
    steps = [Row("late", "email"), Row("first", "email")]
    assert entry_step_id(steps, [Edge("first", "late")]) == "first"


def test_entry_step_falls_back_to_first_when_all_have_incoming() -> None:
    steps = [Row("a", "email"), Row("wait", "delay")]
    assert entry_step_id(steps, [Edge("a", "wait"), Edge("wait", "a")]) == "a"


def test_entry_step_needs_steps() -> None:
    with pytest.raises(ValueError, match="at least one step"):
        entry_step_id([], [])


def test_plain_rows_are_checked_like_models() -> None:
    graph = Graph([Row("a", "email"), Row("b", "branch")], [Edge("a", "b")])
    assert where(validate_graph(graph)) == [("b", "connections"), ("b", "connections")]


def test_valid_graph_has_no_problems() -> None:
    steps = [email("a"), delay("wait"), branch_on("b", "a"), email("t"), email("f")]
    connections = [to("a", "wait"), to("wait", "b"), to("b", "t", "true"), to("b", "f", "false")]
    assert validate_graph(model(steps, connections)) == []


def test_wait_until_needs_met_and_timeout() -> None:
    wait = {
        "id": "w",
        "type": "wait_until",
        "config": {"conditions": [{"field": "f", "timeout": "1 day"}]},
    }
    problems = validate_graph(model([wait, email("next")], [to("w", "next", "met")]))
    assert [problem.message for problem in problems] == ["wait_until 'w' has no 'timeout' path"]


def test_split_needs_each_path_once() -> None:
    paths = [{"label": "a", "percent": 50}, {"label": "b", "percent": 50}]
    split = {"id": "s", "type": "split", "config": {"paths": paths}}
    connections = [to("s", "x", "a"), to("s", "y", "a"), to("s", "y", "c")]
    problems = validate_graph(model([split, email("x"), email("y")], connections))
    assert where(problems) == [
        ("s", "connections[1].label"),
        ("s", "connections[2].label"),
        ("s", "connections"),
    ]
    assert problems[2].message == "split 's' has no 'b' path"


def test_single_next_step_types() -> None:
    problems = validate_graph(
        model([email("a"), email("b"), email("c")], [to("a", "b"), to("a", "c", "true")])
    )
    assert where(problems) == [("a", "connections[1].label")]
    assert "not a 'true' path" in problems[0].message


def test_terminal_steps_cannot_lead_anywhere() -> None:
    exit_step = {"id": "out", "type": "action", "config": {"action": "exit"}}
    steps = [email("a"), exit_step, {"id": "end", "type": "end"}, email("b")]
    connections = [to("a", "out"), to("out", "end"), to("end", "b")]
    problems = validate_graph(model(steps, connections))
    assert where(problems) == [("out", "connections[1].label"), ("end", "connections[2].label")]
    assert problems[0].message == "action 'out' ends the sequence, so it cannot lead to 'end'"


def test_connection_problems() -> None:
    connections = [to("ghost", "a"), to("a", "nowhere"), to("a", "a")]
    problems = validate_graph(model([email("a")], connections))
    assert where(problems) == [
        (None, "connections[0].source"),
        ("a", "connections[1].target"),
        ("a", "connections[2].target"),
    ]


def test_duplicate_step_ids() -> None:
    problems = validate_graph(model([email("a"), delay("a")], []))
    assert where(problems) == [("a", "id")]


def test_empty_sequence() -> None:
    assert where(validate_graph(model([], []))) == [(None, "steps")]


def test_unreachable_steps_are_each_named() -> None:
    problems = validate_graph(model([email("a"), email("b"), email("c")], [to("b", "c")]))
    assert [problem.message for problem in problems] == [
        "step 'b' is unreachable from the start step 'a'",
        "step 'c' is unreachable from the start step 'a'",
    ]


def test_loop_through_a_delay_is_fine() -> None:
    steps = [email("a"), delay("wait")]
    assert validate_graph(model(steps, [to("a", "wait"), to("wait", "a")])) == []


def test_loop_without_wait_is_named_once() -> None:
    tag = {"id": "tag", "type": "action", "config": {"action": "add_tag", "tag": "t"}}
    goal = {"id": "goal", "type": "goal", "config": {"goal": "g"}}
    steps = [email("start"), email("a"), tag, goal]
    connections = [to("start", "a"), to("a", "tag"), to("tag", "goal"), to("goal", "a")]
    problems = validate_graph(model(steps, connections))
    assert where(problems) == [("a", None)]
    assert problems[0].message.startswith("steps 'a', 'tag', 'goal' form a loop with no delay")


def test_instant_loop_beside_a_waiting_loop_is_still_found() -> None:
    """A wait on one loop does not excuse a second loop through the same steps that skips it."""
    b = {"id": "b", "type": "branch", "config": {"condition": {"type": "tag", "tag": "x"}}}
    steps = [email("a"), b, delay("wait")]
    connections = [to("a", "b"), to("b", "wait", "true"), to("wait", "a"), to("b", "a", "false")]
    assert where(validate_graph(model(steps, connections))) == [("a", None)]


def test_email_references_must_exist() -> None:
    steps = [branch_on("b", "missing"), email("t"), email("f")]
    problems = validate_graph(model(steps, [to("b", "t", "true"), to("b", "f", "false")]))
    assert where(problems) == [("b", "config.condition.email_step_id")]


def test_wait_condition_email_reference_checked() -> None:
    condition = {"event": "opened", "email_step_id": "nope", "timeout": "2 days"}
    wait = {"id": "w", "type": "wait_until", "config": {"conditions": [condition]}}
    problems = validate_graph(
        model([wait, email("m")], [to("w", "m", "met"), to("w", "m", "timeout")])
    )
    assert where(problems) == [("w", "config.conditions[0].email_step_id")]


def test_warns_about_branch_right_after_its_email() -> None:
    """The seed's own diagram: the branch runs before anyone could click."""
    steps = [email("step_1"), branch_on("clicked", "step_1"), email("t"), email("f")]
    connections = [to("step_1", "clicked"), to("clicked", "t", "true"), to("clicked", "f", "false")]
    defn = model(steps, connections)
    assert validate_graph(defn) == []
    warnings = graph_warnings(defn)
    assert where(warnings) == [("clicked", "config.condition.email_step_id")]
    assert "wait_until" in warnings[0].message


def test_no_warning_with_a_wait_in_between() -> None:
    steps = [email("step_1"), delay("wait"), branch_on("clicked", "step_1"), email("t"), email("f")]
    connections = [
        to("step_1", "wait"),
        to("wait", "clicked"),
        to("clicked", "t", "true"),
        to("clicked", "f", "false"),
    ]
    assert graph_warnings(model(steps, connections)) == []


def test_warning_when_any_path_skips_the_wait() -> None:
    split_paths = [{"label": "slow", "percent": 50}, {"label": "fast", "percent": 50}]
    steps = [
        email("step_1"),
        {"id": "s", "type": "split", "config": {"paths": split_paths}},
        delay("wait"),
        branch_on("clicked", "step_1"),
        email("t"),
        email("f"),
    ]
    connections = [
        to("step_1", "s"),
        to("s", "wait", "slow"),
        to("s", "clicked", "fast"),
        to("wait", "clicked"),
        to("clicked", "t", "true"),
        to("clicked", "f", "false"),
    ]
    assert where(graph_warnings(model(steps, connections))) == [
        ("clicked", "config.condition.email_step_id")
    ]
