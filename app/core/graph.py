"""Graph rules for sequences: which connections each step takes, where a contact starts,
and whether every step can run without a contact looping forever.

The functions accept any objects shaped like the parsed definition (see the protocols),
so the database layer can check rows with the same rules the importer uses.
"""

from collections import defaultdict, deque
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from app.core.steps import WAITING_STEP_TYPES, step_outputs


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a definition, located by step id and a dotted field path."""

    message: str
    field: str | None = None
    step: str | None = None

    def __str__(self) -> str:
        where = ", ".join(part for part in (self._step_label(), self.field) if part)
        return f"{where}: {self.message}" if where else self.message

    def _step_label(self) -> str | None:
        return f"step {self.step!r}" if self.step is not None else None


class StepLike(Protocol):
    """What the rules need from a step: its id, type and JSON-ready config."""

    @property
    def id(self) -> str: ...

    @property
    def type(self) -> str: ...

    def config_dict(self) -> dict[str, Any]: ...


class ConnectionLike(Protocol):
    """An edge from `source` to `target`; `label` picks the path (None for a plain next step)."""

    @property
    def source(self) -> str: ...

    @property
    def target(self) -> str: ...

    @property
    def label(self) -> str | None: ...


class DefinitionLike(Protocol):
    """Steps in author order plus their connections."""

    @property
    def steps(self) -> Sequence[StepLike]: ...

    @property
    def connections(self) -> Sequence[ConnectionLike]: ...


Edge = tuple[int, ConnectionLike]
"""A connection with its index in the definition, so problems can point at it."""


def outgoing_labels(step: StepLike) -> set[str | None]:
    """Labels the step's outgoing connections must carry.

    `{None}` means at most one unlabelled connection (none ends the enrollment as
    completed); any other non-empty set means exactly one connection per label; an
    empty set means the step cannot be followed by anything.
    """
    return set(step_outputs(step.type, step.config_dict()))


def entry_step_id(steps: Sequence[StepLike], connections: Sequence[ConnectionLike]) -> str:
    """The step a new enrollment starts on: the first, in author order, that nothing leads to.

    When every step has an incoming connection (a loop back to the top), the first step wins.
    """
    if not steps:
        raise ValueError("a sequence needs at least one step")
    targets = {conn.target for conn in connections if conn.source != conn.target}
    return next((step.id for step in steps if step.id not in targets), steps[0].id)


def validate_graph(defn: DefinitionLike) -> list[Problem]:
    """Every graph problem in the definition, structural ones first."""
    steps = list(defn.steps)
    if not steps:
        return [Problem("a sequence needs at least one step", field="steps")]
    by_id = _index(steps)
    edges = _edges(defn.connections, by_id)
    return [
        *_duplicate_id_problems(steps),
        *_connection_problems(defn.connections, by_id),
        *_label_problems(by_id, edges),
        *_reference_problems(by_id),
        *_reachability_problems(steps, defn.connections, edges),
        *_cycle_problems(by_id, edges),
    ]


def graph_warnings(defn: DefinitionLike) -> list[Problem]:
    """Legal but probably wrong: a branch testing an email event right after that email.

    A branch is evaluated the moment a contact reaches it, so without a delay or
    wait_until in between nobody can have opened or clicked yet.
    """
    by_id = _index(defn.steps)
    successors = _successors(_edges(defn.connections, by_id))
    return [
        Problem(_early_branch_message(step.id, email_id), field, step.id)
        for step in by_id.values()
        if step.type == "branch"
        for field, email_id in _email_references(step.config_dict(), "config")
        if _is_email(by_id, email_id)
        and _reaches_without_wait(email_id, step.id, by_id, successors)
    ]


def _is_email(by_id: Mapping[str, StepLike], step_id: str) -> bool:
    step = by_id.get(step_id)
    return step is not None and step.type == "email"


def _early_branch_message(branch_id: str, email_id: str) -> str:
    return (
        f"branch {branch_id!r} tests email {email_id!r} with no delay or wait_until in between, "
        "so contacts reach it before they could react; add a delay, or use a wait_until step"
    )


def _index(steps: Sequence[StepLike]) -> dict[str, StepLike]:
    """Steps by id; with duplicate ids the first wins (duplicates are reported separately)."""
    by_id: dict[str, StepLike] = {}
    for step in steps:
        by_id.setdefault(step.id, step)
    return by_id


def _edges(connections: Sequence[ConnectionLike], by_id: Mapping[str, StepLike]) -> list[Edge]:
    """Connections between two known, different steps: the ones path rules can reason about."""
    return [
        (index, conn)
        for index, conn in enumerate(connections)
        if conn.source in by_id and conn.target in by_id and conn.source != conn.target
    ]


def _successors(edges: Sequence[Edge]) -> dict[str, list[str]]:
    successors: dict[str, list[str]] = defaultdict(list)
    for _, conn in edges:
        successors[conn.source].append(conn.target)
    return successors


def _duplicate_id_problems(steps: Sequence[StepLike]) -> list[Problem]:
    counts: dict[str, int] = defaultdict(int)
    for step in steps:
        counts[step.id] += 1
    return [
        Problem(f"step id {step_id!r} is used by {count} steps; ids must be unique", "id", step_id)
        for step_id, count in counts.items()
        if count > 1
    ]


def _connection_problems(
    connections: Sequence[ConnectionLike], by_id: Mapping[str, StepLike]
) -> list[Problem]:
    problems = []
    for index, conn in enumerate(connections):
        if conn.source not in by_id:
            message = f"connection from unknown step {conn.source!r}"
            problems.append(Problem(message, f"connections[{index}].source"))
        elif conn.target not in by_id:
            message = f"step {conn.source!r} connects to unknown step {conn.target!r}"
            problems.append(Problem(message, f"connections[{index}].target", conn.source))
        elif conn.source == conn.target:
            message = f"step {conn.source!r} connects to itself"
            problems.append(Problem(message, f"connections[{index}].target", conn.source))
    return problems


def _label_problems(by_id: Mapping[str, StepLike], edges: Sequence[Edge]) -> list[Problem]:
    outgoing: dict[str, list[Edge]] = defaultdict(list)
    for edge in edges:
        outgoing[edge[1].source].append(edge)
    problems = []
    for step in by_id.values():
        problems += _step_label_problems(step, outgoing[step.id])
    return problems


def _step_label_problems(step: StepLike, outgoing: Sequence[Edge]) -> list[Problem]:
    allowed = outgoing_labels(step)
    name = f"{step.type} {step.id!r}"
    problems = []
    seen: set[str | None] = set()
    for index, conn in outgoing:
        message = _label_message(name, allowed, seen, conn)
        if message:
            problems.append(Problem(message, f"connections[{index}].label", step.id))
        seen.add(conn.label)
    for label in sorted(label for label in allowed - seen if label is not None):
        problems.append(Problem(f"{name} has no {label!r} path", "connections", step.id))
    return problems


def _label_message(
    name: str, allowed: set[str | None], seen: set[str | None], conn: ConnectionLike
) -> str | None:
    if not allowed:
        return f"{name} ends the sequence, so it cannot lead to {conn.target!r}"
    if conn.label not in allowed and allowed == {None}:
        return f"{name} takes one unlabelled next step, not a {conn.label!r} path"
    if conn.label not in allowed:
        expected = ", ".join(sorted(label for label in allowed if label is not None))
        return f"{name} has no path labelled {conn.label!r}; expected {expected}"
    if conn.label in seen and conn.label is None:
        return f"{name} has more than one next step"
    if conn.label in seen:
        return f"{name} has more than one {conn.label!r} path"
    return None


def _reference_problems(by_id: Mapping[str, StepLike]) -> list[Problem]:
    """Conditions on email events must name an email step of this sequence."""
    problems = []
    for step in by_id.values():
        for field, ref in _email_references(step.config_dict(), "config"):
            target = by_id.get(ref)
            if target is None:
                problems.append(Problem(f"{ref!r} is not a step in this sequence", field, step.id))
            elif target.type != "email":
                message = f"{ref!r} is a {target.type} step, not an email step"
                problems.append(Problem(message, field, step.id))
    return problems


def _email_references(value: Any, path: str) -> Iterator[tuple[str, str]]:
    """(field path, step id) for every `email_step_id` anywhere in a config."""
    if isinstance(value, Mapping):
        for key, item in value.items():
            if key == "email_step_id":
                yield f"{path}.{key}", item
            else:
                yield from _email_references(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _email_references(item, f"{path}[{index}]")


def _reachability_problems(
    steps: Sequence[StepLike], connections: Sequence[ConnectionLike], edges: Sequence[Edge]
) -> list[Problem]:
    start = entry_step_id(steps, connections)
    reached = _reachable(start, _successors(edges))
    return [
        Problem(f"step {step.id!r} is unreachable from the start step {start!r}", step=step.id)
        for step in _index(steps).values()
        if step.id not in reached
    ]


def _reachable(start: str, successors: Mapping[str, Sequence[str]]) -> set[str]:
    reached = {start}
    queue = deque([start])
    while queue:
        for target in successors.get(queue.popleft(), ()):
            if target not in reached:
                reached.add(target)
                queue.append(target)
    return reached


def _cycle_problems(by_id: Mapping[str, StepLike], edges: Sequence[Edge]) -> list[Problem]:
    """Loops made only of instant steps would spin a contact forever within one tick.

    Waiting steps are removed from the graph; each strongly connected group left over
    is such a loop. Sequences are small, so plain reachability per step is fast enough.
    """
    instant = [step_id for step_id, step in by_id.items() if step.type not in WAITING_STEP_TYPES]
    instant_set = set(instant)
    successors = _successors(
        [edge for edge in edges if {edge[1].source, edge[1].target} <= instant_set]
    )
    reach = {step_id: _reachable_after_one_step(step_id, successors) for step_id in instant}
    problems = []
    placed: set[str] = set()
    for step_id in instant:
        if step_id in placed or step_id not in reach[step_id]:
            continue
        loop = [other for other in instant if other in reach[step_id] and step_id in reach[other]]
        placed.update(loop)
        names = ", ".join(repr(other) for other in loop)
        message = (
            f"steps {names} form a loop with no delay or wait_until step, "
            "so a contact would go round it endlessly"
        )
        problems.append(Problem(message, step=loop[0]))
    return problems


def _reachable_after_one_step(start: str, successors: Mapping[str, Sequence[str]]) -> set[str]:
    reached: set[str] = set()
    for target in successors.get(start, ()):
        reached |= _reachable(target, successors)
    return reached


def _reaches_without_wait(
    start: str, goal: str, by_id: Mapping[str, StepLike], successors: Mapping[str, Sequence[str]]
) -> bool:
    """Whether some path from `start` reaches `goal` without passing a waiting step."""
    seen = {start}
    queue = deque([start])
    while queue:
        for target in successors.get(queue.popleft(), ()):
            if target == goal:
                return True
            if target not in seen and by_id[target].type not in WAITING_STEP_TYPES:
                seen.add(target)
                queue.append(target)
    return False
