"""What a step type is: everything the graph rules, the builder and the engine need to
know about one kind of step, declared once in that kind's module."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

from pydantic import TypeAdapter

from app.core import conditions
from app.core.durations import parse_duration, parse_signed_duration

if TYPE_CHECKING:
    from app.core.engine import Step
    from app.core.steps.runtime import Context, Verdict

Outputs = Callable[[Mapping[str, Any]], list[str | None]]
Describe = Callable[[Mapping[str, Any]], str]
LegacyPath = tuple[str, str, str | None]
"""(config key, connection label, target step id or None) of an inline next-step key."""
LegacyPaths = Callable[[Any], list[LegacyPath]]
Run = Callable[["Step", "Context"], "Verdict"]
Reads = Callable[[Any], conditions.Needs]
WaitingText = Callable[[Mapping[str, Any], str], str]
NominalWaitOf = Callable[[Mapping[str, Any]], "NominalWait"]
EventNames = Callable[[Mapping[str, Any]], set[str]]


def one_next_step(config: Mapping[str, Any]) -> list[str | None]:
    """The usual ports: a single unlabelled next step (none ends the enrollment)."""
    return [None]


def fixed_outputs(*labels: str) -> Outputs:
    """Ports that do not depend on the config, in canvas order."""

    def outputs(config: Mapping[str, Any]) -> list[str | None]:
        return list(labels)

    return outputs


@dataclass(frozen=True)
class NominalWait:
    """What one step adds to a sequence's length on a gallery card (its longest case)."""

    seconds: int = 0
    timed_from: str | None = None
    """A date the clock is set by (a contact field, or a fixed date and time)..."""
    offset: int = 0
    """...and the moment, in seconds relative to that date, the step waits until."""
    until_weekday: str | None = None


def nominal_seconds(text: Any) -> int:
    """A duration's nominal length; an unfinished one (in a saved draft) counts as nothing."""
    try:
        return parse_duration(str(text)).total_seconds_nominal()
    except ValueError:
        return 0


def nominal_signed_seconds(text: Any) -> int:
    """A signed offset's nominal length ("-1 day" is -86400); unfinished counts as nothing."""
    try:
        sign, duration = parse_signed_duration(str(text))
    except ValueError:
        return 0
    return sign * duration.total_seconds_nominal()


@dataclass(frozen=True)
class StepKind:
    """One step type.

    `config_model` is the pydantic model (or annotated union of models) a stored config
    must satisfy; the format's step list and every config check are built from it. A kind
    whose model accepts `{}` may leave `config` out of a definition.

    `outputs(config)` lists the output ports in canvas order (None is the one unlabelled
    next step; an empty list means nothing may follow) and must tolerate an unfinished
    draft config. `summary(config)` is the canvas card's one line; it may raise on an
    unfinished config (the caller shows a hint instead).

    `run(step, ctx)` is the kind's engine semantics (see `runtime`): it reads the step's
    config as parsed by `config_model` (`step.parsed`) and returns a `Verdict`.
    `reads(parsed)` declares what its conditions need loaded
    (event types, lookback, segments); a kind that waits for events lists their types with
    `awaited_events(config)`, so the processor loads them for contacts waiting there.

    A waiting kind may say why a contact waits on it, `waiting_text(config, when)` (e.g.
    "waiting 2 days: until <when>"; it may raise on an odd stored config, the caller then
    says "waiting until <when>"), and how long it waits at most for the gallery,
    `nominal_wait(config)` (tolerant of unfinished drafts).

    `legacy_paths(parsed config)`, when given, takes the seed format's inline next-step
    keys out of the parsed config (setting them to None) and returns them, to become
    labelled connections.
    """

    type: str
    label: str
    hint: str
    colour: str
    order: int
    summary: Describe
    config_model: Any
    run: Run
    default_config: Mapping[str, Any] = field(default_factory=dict)
    outputs: Outputs = one_next_step
    waits: bool = False
    reads: Reads | None = None
    awaited_events: EventNames | None = None
    waiting_text: WaitingText | None = None
    nominal_wait: NominalWaitOf | None = None
    legacy_paths: LegacyPaths | None = None

    @cached_property
    def config_adapter(self) -> TypeAdapter[Any]:
        """Validates (and parses) a config of this kind on its own, without a step around it."""
        return TypeAdapter(self.config_model)
