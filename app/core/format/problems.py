"""Pydantic's validation errors as problems an author can act on: located by step id and
dotted field path, in plain words, with the intended key suggested for a misspelt one."""

from __future__ import annotations

import difflib
from typing import Any

from pydantic import ValidationError

from app.core.format.values import KNOWN_KEYS, UNION_MESSAGES, UNION_TAGS, FieldError
from app.core.graph import Problem
from app.core.steps import STEP_TYPES


class DefinitionError(Exception):
    """A definition that cannot be used, with every problem found (most relevant first)."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("\n".join(str(problem) for problem in problems))
        self.problems = problems

    @property
    def first(self) -> Problem:
        return self.problems[0]


def problems_from(
    error: ValidationError, data: Any, prefix: tuple[str | int, ...] = ()
) -> list[Problem]:
    problems: list[Problem] = []
    for item in error.errors():
        problem = _problem_from(item, data, prefix + tuple(item["loc"]))
        if problem not in problems:
            problems.append(problem)
    return problems


def _problem_from(item: Any, data: Any, loc: tuple[str | int, ...]) -> Problem:
    parts = _data_path(loc, data)
    message, extra = _message(item, parts)
    parts += extra
    step = None
    if len(parts) >= 2 and parts[0] == "steps" and isinstance(parts[1], int):
        raw_id = data["steps"][parts[1]].get("id") if _is_step_dict(data, parts[1]) else None
        if isinstance(raw_id, str) and raw_id.strip():
            step, parts = raw_id, parts[2:]
    return Problem(message, _dotted(parts) or None, step)


def _is_step_dict(data: Any, index: int) -> bool:
    steps = data.get("steps")
    return isinstance(steps, list) and index < len(steps) and isinstance(steps[index], dict)


def _data_path(loc: tuple[str | int, ...], data: Any) -> list[str | int]:
    """Follow a pydantic location through the input, dropping union tags it inserts."""
    parts: list[str | int] = []
    node = data
    tag_skipped = False
    for segment in loc:
        if isinstance(node, list) and isinstance(segment, int):
            parts.append(segment)
            node = node[segment] if segment < len(node) else None
            tag_skipped = False
        elif isinstance(node, dict):
            if not tag_skipped and _is_tag(segment, node):
                tag_skipped = True
                continue
            parts.append(segment)
            node = node.get(segment)
            tag_skipped = False
        elif node is None:
            parts.append(segment)
        # Segments below a scalar name union members pydantic tried; they are not keys.
    return parts


def _is_tag(segment: str | int, node: dict[str, Any]) -> bool:
    if segment in UNION_TAGS and segment not in node:
        return True
    return any(node.get(key) == segment for key in ("type", "action"))


def _dotted(parts: list[str | int]) -> str:
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else f".{part}"
    return text.removeprefix(".")


def _message(item: Any, parts: list[str | int]) -> tuple[str, list[str | int]]:
    """Readable English for one pydantic error, plus any key to add to its location."""
    kind, ctx, value = item["type"], item.get("ctx", {}), item.get("input")
    last = parts[-1] if parts else None
    if kind == "missing":
        return f"{last!r} is required", []
    if kind == "extra_forbidden":
        return _unknown_key_message(str(last)), []
    if kind == "union_tag_invalid":
        key = ctx["discriminator"].strip("'")
        expected = ctx["expected_tags"].replace("'", "")
        what = _union_name(key, parts)
        return f"unknown {what} {ctx['tag']!r}; expected one of {expected}", [key]
    if kind == "union_tag_not_found":
        key = ctx["discriminator"].strip("'")
        if _union_name(key, parts) == "step type":
            return unknown_step_type(None), [key]
        return f"{key!r} is required", [key]
    if kind in UNION_MESSAGES:
        return UNION_MESSAGES[kind](value)
    if kind == "literal_error":
        return f"{_show(value)} is not allowed; expected {ctx['expected']}", []
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return f"should be a mapping of keys, got {_show(value)}", []
    if kind in ("value_error", "assertion_error"):
        error = ctx["error"]
        if not isinstance(error, FieldError):
            return str(error), []
        return str(error), list(error.field) if isinstance(error.field, tuple) else [error.field]
    return _generic_message(item["msg"], value), []


def _union_name(discriminator: str, parts: list[str | int]) -> str:
    if discriminator != "type":
        return discriminator
    if len(parts) == 2 and parts[0] == "steps":
        return "step type"
    owner = next((part for part in reversed(parts) if isinstance(part, str)), "")
    return f"{owner} type".strip()


def _unknown_key_message(key: str) -> str:
    close = difflib.get_close_matches(key, KNOWN_KEYS - {key}, n=1, cutoff=0.75)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return f"unknown key {key!r}{hint}"


def _generic_message(message: str, value: Any) -> str:
    if message.startswith("Input should be "):
        return f"should be {message.removeprefix('Input should be ')}, got {_show(value)}"
    return message


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def unknown_step_type(step_type: Any) -> str:
    expected = ", ".join(STEP_TYPES)
    if step_type is None:
        return f"a 'type' is required; expected one of {expected}"
    return f"unknown step type {step_type!r}; expected one of {expected}"
