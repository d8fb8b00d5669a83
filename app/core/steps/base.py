"""What a step type is: everything the graph rules, the builder and the engine need to
know about one kind of step, declared once in that kind's module."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

Outputs = Callable[[Mapping[str, Any]], list[str | None]]
Describe = Callable[[Mapping[str, Any]], str]


def one_next_step(config: Mapping[str, Any]) -> list[str | None]:
    """The usual ports: a single unlabelled next step (none ends the enrollment)."""
    return [None]


def fixed_outputs(*labels: str) -> Outputs:
    """Ports that do not depend on the config, in canvas order."""

    def outputs(config: Mapping[str, Any]) -> list[str | None]:
        return list(labels)

    return outputs


@dataclass(frozen=True)
class StepKind:
    """One step type.

    `outputs(config)` lists the output ports in canvas order (None is the one unlabelled
    next step; an empty list means nothing may follow) and must tolerate an unfinished
    draft config. `summary(config)` is the canvas card's one line; it may raise on an
    unfinished config (the caller shows a hint instead).
    """

    type: str
    label: str
    hint: str
    colour: str
    order: int
    summary: Describe
    default_config: Mapping[str, Any] = field(default_factory=dict)
    outputs: Outputs = one_next_step
    waits: bool = False
