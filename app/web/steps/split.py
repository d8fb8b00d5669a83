"""The random split's panel: paths with a label and a share each."""

from __future__ import annotations

from typing import Any

from app.web.form_toolkit import FormReader, dicts, text_of
from app.web.steps.base import StepForm


def _to_form(config: dict[str, Any]) -> list[tuple[str, str]]:
    pairs = []
    for index, path in enumerate(dicts(config.get("paths"))):
        pairs += [(f"paths.{index}.label", text_of(path.get("label")))]
        pairs += [(f"paths.{index}.percent", text_of(path.get("percent")))]
    return pairs


def _from_form(read: FormReader) -> dict[str, Any]:
    paths = []
    for index in read.rows("paths"):
        percent = read.integer(f"paths.{index}.percent")
        if percent is None:
            read.form.add_error(f"paths.{index}.percent", "give this path a share, such as 50")
        paths.append({"label": read.text(f"paths.{index}.label"), "percent": percent})
    if len(paths) < 2:
        read.form.add_error("paths", "a split needs at least two paths")
    return {"paths": paths}


FORM = StepForm(
    type="split",
    to_form=_to_form,
    from_form=_from_form,
    rows={"paths": (("label", ""), ("percent", ""))},
)
