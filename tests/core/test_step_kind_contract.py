"""Every registered step kind keeps the core's contract: a config model its default either
satisfies or is reported against as unfinished, ports and a card line for the default, a
`run` that gives the engine a verdict, and what the palette shows. A kind module missing
any of these fails here (the web side has its own contract test)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from app.core.draft import Draft, DraftStep, check_draft
from app.core.engine import Graph, Position, Step, advance
from app.core.format.document import STEP_MODELS
from app.core.format.parse import step_config_problems
from app.core.steps import KINDS, StepKind
from app.core.steps.runtime import Context, Verdict

T0 = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)
HEX_COLOUR = re.compile(r"#[0-9a-fA-F]{6}")
EXAMPLE_CONFIGS: dict[str, dict[str, Any]] = {
    "email": {
        "subject": "Welcome",
        "body": "<p>Hello</p>",
        "thread": True,
        "variants": [
            {"key": "A", "weight": 50},
            {"key": "B", "weight": 50, "subject": "Welcome aboard", "from_name": "Ann"},
        ],
        "ab_test": {
            "metric": "click_rate",
            "min_sends": 200,
            "confidence": 0.95,
            "max_duration": "14 days",
            "fallback": "best",
        },
    },
    "wait_until": {"conditions": [{"event": "signed_up", "timeout": "1 day"}]},
    "branch": {"condition": {"type": "tag", "tag": "vip"}},
    "action": {"action": "add_tag", "tag": "vip"},
    "goal": {"goal": "Booked a demo"},
    "webhook": {"url": "https://hooks.example.com/penguinmails"},
}
"""A finished config for each kind whose palette default is left for the author to finish,
and for a kind whose default leaves out what the example shows (an email's A/B test)."""

kinds = pytest.mark.parametrize("kind", list(KINDS.values()), ids=list(KINDS))


def valid_config(kind: StepKind) -> dict[str, Any]:
    """The kind's example above when it has one, else its default (which must be valid)."""
    if kind.type in EXAMPLE_CONFIGS:
        return EXAMPLE_CONFIGS[kind.type]
    if step_config_problems(kind.type, dict(kind.default_config)):
        pytest.fail(f"give step kind {kind.type!r} a valid config in EXAMPLE_CONFIGS")
    return dict(kind.default_config)


def alone(kind: StepKind, config: dict[str, Any]) -> Graph:
    """A graph of just this step, every port left unconnected."""
    step = Step("s", "S", kind.type, config, {})
    return Graph("s", {"s": step})


@kinds
def test_the_default_config_is_valid_or_reported_as_unfinished_on_its_step(kind: StepKind) -> None:
    default = dict(kind.default_config)
    problems = step_config_problems(kind.type, default, "s")
    if not problems:
        kind.config_adapter.validate_python(default)  # the model itself agrees
        return
    findings = check_draft(Draft([DraftStep("s", kind.type, default)], []))
    on_config = {f.problem: f.severity for f in findings if f.problem in problems}
    assert on_config == {problem: "error" for problem in problems}, "the canvas shows each"
    for problem in problems:
        assert problem.step == "s" and (problem.field or "").startswith("config"), problem
        assert problem.message.strip(), problem


@kinds
def test_an_example_config_validates_with_the_kinds_config_model(kind: StepKind) -> None:
    config = valid_config(kind)
    assert step_config_problems(kind.type, config) == []
    assert kind.type in STEP_MODELS, "the format's step list is built from the registry"


@kinds
def test_outputs_and_summary_work_on_the_default_config(kind: StepKind) -> None:
    ports = kind.outputs(dict(kind.default_config))
    assert isinstance(ports, list)
    assert all(port is None or isinstance(port, str) for port in ports)
    summary = kind.summary(dict(kind.default_config))
    assert isinstance(summary, str) and summary.strip()


@kinds
def test_run_on_a_minimal_graph_gives_a_verdict(kind: StepKind) -> None:
    graph = alone(kind, valid_config(kind))
    step = graph.steps["s"]
    assert step.blocked is None and step.refused is None
    position = Position("s", None, {}, ZoneInfo("UTC"), enrollment_id="enrollment-1")
    ctx = Context(position, T0, T0, frozenset(), {}, frozenset())

    verdict = kind.run(step, ctx)

    assert isinstance(verdict, Verdict)
    assert verdict.waiting or verdict.outcome or verdict.finish
    out = advance(graph, position, T0)
    if verdict.waiting:
        assert out.status == "active" and out.step_id == "s" and out.taken == []
    else:
        assert [taken.step_id for taken in out.taken] == ["s"]


@kinds
def test_the_palette_has_a_label_a_hint_and_a_hex_colour(kind: StepKind) -> None:
    assert kind.label.strip() and kind.hint.strip()
    assert HEX_COLOUR.fullmatch(kind.colour), kind.colour


@kinds
def test_a_waiting_kind_says_why_contacts_wait_and_for_how_long(kind: StepKind) -> None:
    if not kind.waits:
        assert kind.waiting_text is None and kind.nominal_wait is None
        return
    assert kind.waiting_text is not None and kind.nominal_wait is not None
    config = valid_config(kind)
    assert kind.waiting_text(config, "Mon 7 Dec 10:00 UTC").endswith("Mon 7 Dec 10:00 UTC")
    assert kind.nominal_wait(config).seconds > 0
