"""What is wrong with a sequence while it is being drawn.

The builder saves every change, so a draft may be unfinished: a step whose settings are
not filled in, a branch with one path. These checks run on the stored rows as they are
and report each problem with its step, so the canvas can point at it. The same rules as
the importer apply (graph.validate_graph, the config models); an activation needs none.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from app.core import email_blocks
from app.core.format.parse import step_config_problems
from app.core.graph import Problem, graph_warnings, validate_graph


@dataclass(frozen=True)
class DraftStep:
    """A step row as the checks see it; `config` may be unfinished."""

    id: str
    type: str
    config: Mapping[str, Any] = field(default_factory=dict)
    name: str | None = None

    def config_dict(self) -> dict[str, Any]:
        return dict(self.config)


@dataclass(frozen=True)
class DraftConnection:
    source: str
    target: str
    label: str | None = None


@dataclass(frozen=True)
class Draft:
    steps: Sequence[DraftStep]
    connections: Sequence[DraftConnection]


@dataclass(frozen=True)
class Finding:
    """A problem with how much it matters: errors block activation, warnings do not."""

    problem: Problem
    severity: str  # "error" | "warning"

    def to_dict(self) -> dict[str, Any]:
        return {
            "step": self.problem.step,
            "field": self.problem.field,
            "message": self.problem.message,
            "severity": self.severity,
        }


def check_draft(draft: Draft) -> list[Finding]:
    """Every problem of the draft: unfinished settings, empty emails, then graph rules."""
    config_problems = [
        problem
        for step in draft.steps
        for problem in [
            *step_config_problems(step.type, step.config_dict(), step.id),
            *_empty_email_problems(step),
        ]
    ]
    findings = [Finding(problem, "error") for problem in config_problems]
    if not draft.steps:
        return [*findings, Finding(Problem("drag a first step onto the canvas", "steps"), "error")]
    # Graph rules read ports through the step kinds, which tolerate unfinished configs.
    findings += [Finding(problem, "error") for problem in validate_graph(draft)]
    findings += [Finding(problem, "warning") for problem in graph_warnings(draft)]
    return findings


def _empty_email_problems(step: DraftStep) -> list[Problem]:
    """An empty subject or body, and the blocks' empty fields (a button without a link)."""
    if step.type != "email":
        return []
    config = step.config_dict()
    blocks = config.get("blocks")
    gaps = email_blocks.gaps(blocks) if isinstance(blocks, list) else []
    return [
        *(
            Problem(f"an email needs a {key}", f"config.{key}", step.id)
            for key in ("subject", "body")
            if isinstance(config.get(key, ""), str) and not config.get(key, "").strip()
        ),
        *(Problem(gap.message, f"config.{gap.path}", step.id) for gap in gaps),
    ]
