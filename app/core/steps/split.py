"""Random split: send each contact down one path, by percentage (sticky per enrollment)."""

from collections.abc import Mapping
from typing import Any

from app.core.steps.base import StepKind


def _outputs(config: Mapping[str, Any]) -> list[str | None]:
    paths = config.get("paths")
    rows = paths if isinstance(paths, list) else []
    labels = [row.get("label") for row in rows if isinstance(row, dict)]
    return [label for label in labels if isinstance(label, str) and label]


def _summary(config: Mapping[str, Any]) -> str:
    return " · ".join(f"{p['label']} {p['percent']}%" for p in config.get("paths") or [])


KIND = StepKind(
    type="split",
    label="Random split",
    hint="A/B paths by percentage",
    colour="#e16f24",
    order=50,
    summary=_summary,
    default_config={"paths": [{"label": "a", "percent": 50}, {"label": "b", "percent": 50}]},
    outputs=_outputs,
)
