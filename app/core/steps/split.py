"""Random split: send each contact down one path, by percentage (sticky per enrollment)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, model_validator

from app.core import conditions, decisions, limits
from app.core.format.values import FieldError, Label, Model
from app.core.steps.base import StepKind
from app.core.steps.runtime import Context, Verdict

if TYPE_CHECKING:
    from app.core.engine import Step


class SplitPath(Model):
    label: Label
    percent: int = Field(ge=1, le=100)


class SplitConfig(Model):
    type: Literal["split"] | None = None
    paths: list[SplitPath] = Field(min_length=2, max_length=limits.CHOICES)

    @model_validator(mode="after")
    def _paths_cover_everyone(self) -> SplitConfig:
        labels = [path.label for path in self.paths]
        duplicate = next((label for label in labels if labels.count(label) > 1), None)
        if duplicate is not None:
            raise FieldError("paths", f"path label {duplicate!r} is used more than once")
        total = sum(path.percent for path in self.paths)
        if total != 100:
            raise FieldError("paths", f"path percentages add up to {total}; they must total 100")
        return self


def _outputs(config: Mapping[str, Any]) -> list[str | None]:
    paths = config.get("paths")
    rows = paths if isinstance(paths, list) else []
    labels = [row.get("label") for row in rows if isinstance(row, dict)]
    return [label for label in labels if isinstance(label, str) and label]


def _summary(config: Mapping[str, Any]) -> str:
    return " · ".join(f"{p['label']} {p['percent']}%" for p in config.get("paths") or [])


def _run(step: Step, ctx: Context) -> Verdict:
    """A path by percentage, the same for an enrollment each time it passes (its label is
    the step log's outcome)."""
    bucket = conditions.split_bucket(ctx.position.enrollment_id or "", step.id)
    label = conditions.split_path(step.config["paths"], bucket)
    return Verdict.go(label, label, decision=decisions.split(bucket, label))


KIND = StepKind(
    type="split",
    label="Random split",
    hint="A/B paths by percentage",
    colour="#e16f24",
    order=50,
    summary=_summary,
    run=_run,
    config_model=SplitConfig,
    default_config={"paths": [{"label": "a", "percent": 50}, {"label": "b", "percent": 50}]},
    outputs=_outputs,
)
