"""A segment's rule as a form: the branch step's condition builder (`steps.branch`), limited
to the kinds a rule may use, so nobody writes JSON to say "tag is enterprise"."""

from __future__ import annotations

import re
from typing import Any

from werkzeug.datastructures import MultiDict

from app.services.segments import RULE_TYPES
from app.web.form_toolkit import PROPERTY_ROW, FormData, FormReader, apply_op
from app.web.steps.branch import condition_from_form, field_name

KINDS = (*RULE_TYPES, "all", "any", "not")
"""What the builder's "Check" select offers on the segment pages."""
ROWS = {"items": (("kind", "tag"),), "props": PROPERTY_ROW}
GROUPS = {"items": (("kind", "all"), ("items.0.kind", "tag"))}
START: MultiDict[str, str] = MultiDict([("cond.kind", "tag"), ("cond.tag", "")])
"""A new rule starts as "has a tag", the commonest segment."""


def posted(form: MultiDict[str, str]) -> MultiDict[str, str]:
    """The builder's own fields (`cond.*`) as posted, any add/remove button applied."""
    values = MultiDict([(k, v) for k, v in form.items(multi=True) if k.startswith("cond.")])
    return apply_op(values, form.get("_op", ""), ROWS, GROUPS) if form.get("_op") else values


def read(values: MultiDict[str, str]) -> tuple[dict[str, Any], FormData]:
    """The rule the fields describe, and the form with the errors found reading it."""
    reader = FormReader(values)
    return condition_from_form(reader, "cond"), reader.form


def place_error(form: FormData, path: str, message: str) -> None:
    """A rule problem (`rule.all[0].op`) shown beside the field it names."""
    dotted = re.sub(r"\[(\d+)\]", r".\1", path).replace("rule", "condition", 1)
    form.add_error(field_name(dotted, form.values), message)
