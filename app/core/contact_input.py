"""What a client may send about a contact, checked once for every way in: the API's create
and change, the contact pages and CSV rows.

Strict: types are not coerced (an object is not a name, `["a@b.c"]` is not an address),
unknown keys are refused, every text has a length limit and no control characters (names
reach mail headers, so they are one line), custom field names follow one rule and values
have a size limit. A problem is reported with the key at fault (`first_name`,
`fields.plan`), in words.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, JsonValue, ValidationError

from app.core import limits
from app.core.addresses import normalise_address
from app.core.text_rules import multi_line_problem, single_line, single_line_problem
from app.core.time_zones import zone_problem

_FIELD_KEY = re.compile(r"\S(?:.*\S)?")
"""A custom field name: no blank ends (so "plan" and "plan " are not two fields)."""


class ContactInputError(ValueError):
    """Refused contact input, naming the key at fault."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


class _FieldProblem(ValueError):
    """A custom field's problem, remembering which field (reported as `fields.<name>`)."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key


def field_key_problem(key: str) -> str | None:
    """Why `key` cannot name a custom field, or None."""
    if not key or _FIELD_KEY.fullmatch(key) is None:
        return f"the custom field name {key!r} must not be empty or start or end with a space"
    if len(key) > limits.FIELD_KEY:
        return f"a custom field name has at most {limits.FIELD_KEY} characters"
    problem = single_line_problem(key)
    return None if problem is None else f"the custom field name {key!r} {problem}"


def field_value_problem(value: Any) -> str | None:
    """Why `value` cannot be stored in a custom field (too big, too deep, a control
    character in one of its texts), or None."""
    return json_value_problem(value, limits.FIELD_VALUE)


def json_value_problem(value: Any, max_chars: int) -> str | None:
    """Why a JSON value from a client cannot be stored (size, depth, control characters
    in its texts or keys), or None."""
    problem = limits.json_size_problem(value, max_chars)
    if problem is not None:
        return f"the value {problem}"
    for text in _texts(value):
        problem = multi_line_problem(text)
        if problem is not None:
            return f"the value {problem}"
    return None


def _texts(value: Any) -> Iterator[str]:
    stack = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, str):
            yield node
        elif isinstance(node, Mapping):
            yield from (str(key) for key in node)
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)


def _address(value: str) -> str:
    return normalise_address(value)


def _zone(name: str) -> str:
    problem = zone_problem(name)
    if problem is not None:
        raise ValueError(problem)
    return name


def _fields(values: dict[str, Any]) -> dict[str, Any]:
    for key, value in values.items():
        problem = field_key_problem(key)
        if problem is not None:  # a bad name is reported on `fields`: it names nothing
            raise _FieldProblem("", problem)
        problem = field_value_problem(value)
        if problem is not None:
            raise _FieldProblem(key, problem)
    return values


def _tag(text: str) -> str:
    if not text.strip():
        raise ValueError("a tag must not be empty")
    return single_line(text)


Name = Annotated[str, Field(max_length=limits.NAME), AfterValidator(single_line)]
Tag = Annotated[str, Field(max_length=limits.TAG), AfterValidator(_tag)]


class ContactInput(BaseModel):
    """A contact's editable values; absent keys are left alone, null clears a name, a time
    zone or (in `fields`) one custom field."""

    model_config = ConfigDict(extra="forbid", strict=True)

    email: Annotated[str, AfterValidator(_address)] | None = None
    first_name: Name | None = None
    last_name: Name | None = None
    timezone: Annotated[str, Field(max_length=64), AfterValidator(_zone)] | None = None
    tags: Annotated[list[Tag], Field(max_length=limits.TAGS)] | None = None
    fields: (
        Annotated[dict[str, JsonValue], Field(max_length=limits.FIELDS), AfterValidator(_fields)]
        | None
    ) = None


def parse_contact_input(data: Any, *, creating: bool) -> dict[str, Any]:
    """The keys `data` gives, checked (email normalised); ContactInputError otherwise.
    Creating needs an email."""
    if not isinstance(data, Mapping):
        raise ContactInputError("a contact must be a JSON object", "contact")
    if creating and data.get("email") is None:
        raise ContactInputError("an email address is required", "email")
    for key in ("tags", "fields"):  # null here means nothing, not "clear"
        if key in data and data[key] is None:
            raise ContactInputError(f"{key} cannot be null", key)
    try:
        model = ContactInput.model_validate(dict(data))
    except ValidationError as exc:
        raise _first_error(exc) from None
    return model.model_dump(include=model.model_fields_set)


def _first_error(error: ValidationError) -> ContactInputError:
    item = error.errors()[0]
    loc = [str(part) for part in item["loc"] if part != "[key]"]
    kind, ctx = item["type"], item.get("ctx") or {}
    field = loc[0] if loc else "contact"
    if kind == "extra_forbidden":
        return ContactInputError(f"unknown key {field!r}", field)
    error = ctx.get("error")
    if isinstance(error, _FieldProblem) and error.key:
        field = f"fields.{error.key}"
    if kind == "value_error":
        message = str(error)
    elif kind in ("too_long", "string_too_long"):
        unit = "characters" if kind == "string_too_long" else "entries"
        message = f"has at most {ctx.get('max_length')} {unit}"
    elif kind == "string_type":
        message = f"must be text, not {type(item['input']).__name__}"
    else:
        message = item["msg"]
    where = f"{field}[{loc[1]}]" if field == "tags" and len(loc) > 1 else field
    return ContactInputError(f"{where}: {message}", field)
