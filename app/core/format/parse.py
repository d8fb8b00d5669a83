"""Reading and writing definitions: JSON or YAML text in, every problem reported at once
(model problems before graph problems); canonical JSON or YAML out."""

from __future__ import annotations

import json
from collections.abc import Collection
from typing import Any

import yaml
from pydantic import ValidationError

from app.core import safe_yaml
from app.core.format.document import Connection, SequenceDefinition, StepModel
from app.core.format.problems import DefinitionError, problems_from, unknown_step_type
from app.core.graph import Problem, validate_graph
from app.core.steps import KINDS


class _YamlLoader(safe_yaml.NoAliasLoader):
    """YAML 1.1 reads `start: 17:00` as the number 1020 and unquoted dates as datetimes;
    in this format both are text. Aliases are refused (see `safe_yaml`)."""

    def resolve(self, kind: type[yaml.Node], value: Any, implicit: tuple[bool, bool]) -> str:
        tag = super().resolve(kind, value, implicit)
        is_number = tag in ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float")
        if tag == "tag:yaml.org,2002:timestamp" or (is_number and ":" in value):
            return "tag:yaml.org,2002:str"
        return tag


def parse_definition(source: str | bytes | dict[str, Any]) -> SequenceDefinition:
    """Parse and fully validate a definition given as a dict, JSON text or YAML text.

    Inline `true_path_next` / `false_path_next` / `on_timeout` keys become connections.
    Raises DefinitionError listing every problem, model problems before graph problems.
    """
    data = load_document(source)
    if not isinstance(data, dict):
        raise DefinitionError(
            [Problem("a sequence definition must be a mapping with keys such as name and steps")]
        )
    try:
        defn = SequenceDefinition.model_validate(data)
    except ValidationError as exc:
        raise DefinitionError(problems_from(exc, data)) from None
    inline_problems = _move_inline_paths(defn)
    if inline_problems:
        raise DefinitionError(inline_problems)
    problems = validate_graph(defn) + _goal_problems(defn)
    if problems:
        raise DefinitionError(problems)
    return defn


def parse_step_snippet(source: str | dict[str, Any]) -> Any:
    """Parse the seed's `step_config:` / `delay_config:` snippets into a config model.

    The step type comes from the snippet's `type` key; `delay_config` without one is a delay.
    Inline path keys are kept on the returned model since there is no graph to move them to.
    """
    data = load_document(source)
    if not isinstance(data, dict) or len(data) != 1 or not set(data) <= _SNIPPET_KEYS:
        raise DefinitionError(
            [Problem("a snippet must be a mapping with the single key step_config or delay_config")]
        )
    key, config = next(iter(data.items()))
    if not isinstance(config, dict):
        raise DefinitionError([Problem("must be a mapping of config keys", field=key)])
    step_type = config.get("type", "delay" if key == "delay_config" else None)
    if step_type not in KINDS:
        raise DefinitionError([Problem(unknown_step_type(step_type), field=f"{key}.type")])
    try:
        return KINDS[step_type].config_adapter.validate_python(config)
    except ValidationError as exc:
        raise DefinitionError(problems_from(exc, data, prefix=(key,))) from None


_SNIPPET_KEYS = {"step_config", "delay_config"}


def step_config_problems(step_type: str, config: Any, step_id: str | None = None) -> list[Problem]:
    """Every problem of one step's config, fields given as `config.<path>`; [] when valid.

    The builder stores unfinished steps and shows these on the canvas instead of refusing.
    """
    kind = KINDS.get(step_type)
    if kind is None:
        return [Problem(unknown_step_type(step_type), "type", step_id)]
    try:
        kind.config_adapter.validate_python(config)
    except ValidationError as exc:
        problems = problems_from(exc, {"config": config}, prefix=("config",))
        return [Problem(p.message, p.field, step_id) for p in problems]
    return []


def settings_problems(data: dict[str, Any]) -> list[Problem]:
    """Every problem of a definition's top level (name, trigger, exit, re_enrollment,
    settings) checked without steps: the builder's settings form saves these on their own."""
    try:
        SequenceDefinition.model_validate(data)
    except ValidationError as exc:
        return problems_from(exc, data)
    return []


def load_document(source: str | bytes | dict[str, Any]) -> Any:
    """JSON is tried first for text that looks like JSON, for its precise error positions;
    anything but text is taken as already loaded (a list is then refused as no mapping)."""
    if not isinstance(source, str | bytes):
        return source
    text = _decode(source) if isinstance(source, bytes) else source
    json_error = None
    if text.lstrip().startswith(("{", "[")):
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            json_error = exc
    try:
        return safe_yaml.load(text, _YamlLoader)
    except yaml.YAMLError as exc:
        raise DefinitionError([_syntax_problem(json_error or exc)]) from None


def _decode(source: bytes) -> str:
    try:
        return source.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise DefinitionError([Problem("the file is not UTF-8 text")]) from None


def _syntax_problem(exc: json.JSONDecodeError | yaml.YAMLError) -> Problem:
    if isinstance(exc, json.JSONDecodeError):
        return Problem(f"invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}")
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    if mark is None:
        return Problem(f"invalid YAML: {problem}")
    return Problem(f"invalid YAML at line {mark.line + 1}, column {mark.column + 1}: {problem}")


def _move_inline_paths(defn: SequenceDefinition) -> list[Problem]:
    """Turn the seed's inline next-step keys into labelled connections."""
    ids = {step.id for step in defn.steps}
    problems = []
    for step in defn.steps:
        for field, label, target in _pop_inline_paths(step):
            connection = Connection(source=step.id, target=target, label=label)
            if target not in ids:
                message = f"{target!r} is not a step in this sequence"
                problems.append(Problem(message, field, step.id))
            elif connection not in defn.connections:
                defn.connections.append(connection)
    return problems


def _pop_inline_paths(step: StepModel) -> list[tuple[str, str, str]]:
    """(field, label, target) for each inline path key, removed from the config."""
    kind = KINDS[step.type]
    found = kind.legacy_paths(step.config) if kind.legacy_paths else []
    return [(f"config.{key}", label, target) for key, label, target in found if target is not None]


def _goal_problems(defn: SequenceDefinition) -> list[Problem]:
    """Goal names must be unique; exit goals and conversion-rate A/B tests must name a
    defined goal or a goal step."""
    problems = []
    names = [goal.name for goal in defn.goals]
    for index, name in enumerate(names):
        if name in names[:index]:
            message = f"goal {name!r} is defined more than once"
            problems.append(Problem(message, f"goals[{index}].name"))
    known = set(names) | {step.config.goal for step in defn.steps if step.type == "goal"}
    for index, name in enumerate(defn.exit.goals):
        if name not in known:
            message = f"exit goal {name!r} is neither in 'goals' nor a goal step"
            problems.append(Problem(message, f"exit.goals[{index}]"))
    tests = (ab_test_goal_problem(step.id, step.config, known) for step in defn.steps)
    return problems + [problem for problem in tests if problem is not None]


def ab_test_goal_problem(step_id: str, config: Any, goals: Collection[str]) -> Problem | None:
    """A conversion-rate A/B test counts a goal of its sequence, or it could never decide."""
    test = getattr(config, "ab_test", None)
    if test is None or test.metric != "conversion_rate" or test.goal in goals:
        return None
    message = f"the A/B test counts goal {test.goal!r}, which is neither in 'goals' nor a goal step"
    return Problem(message, "config.ab_test.goal", step_id)


# --- Export ----------------------------------------------------------------------------------


def definition_to_dict(defn: SequenceDefinition) -> dict[str, Any]:
    """The canonical JSON-ready form: `format` first, no null optional keys, durations as
    written, inline path keys already turned into connections (for parsed definitions)."""
    return defn.model_dump(mode="json")


def dump_json(defn: SequenceDefinition) -> str:
    return json.dumps(definition_to_dict(defn), indent=2, ensure_ascii=False) + "\n"


def dump_yaml(defn: SequenceDefinition) -> str:
    return yaml.safe_dump(
        definition_to_dict(defn), sort_keys=False, allow_unicode=True, default_flow_style=False
    )
