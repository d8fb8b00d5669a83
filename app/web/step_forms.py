"""Step settings forms: a step's config (format v1) to flat form values and back.

The builder's panels are plain HTML forms re-rendered by the server, so every value travels
as text under a flat, dotted name (`paths.0.label`, `cond.items.1.field`). Reading a form
builds the config, then checks it with the definition's own models, so a panel accepts
exactly what the importer accepts; each problem is put back next to the field it concerns.

Values of `field` conditions, `update_field` actions and event properties are typed text:
numbers (`42`, `3.5`), `true`, `false`, `null`, JSON lists and objects are read as JSON,
`"quoted"` text is that text (so `"42"` stays a string), anything else is kept as text,
and an empty box means no value.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from pydantic import JsonValue
from werkzeug.datastructures import MultiDict

from app.core.definition import EMAIL_EVENTS, step_config_problems
from app.core.graph import Problem

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MAX_CONDITION_DEPTH = 8
"""Nested condition groups deeper than this are refused: no author needs them."""


@dataclass
class FormData:
    """A form as shown: the values as typed (text) and at most one message per field.

    Templates ask `error(name)` where they render a field; messages no field asked for are
    left for `leftover_errors()`, shown near the Save button so none is ever hidden.
    """

    values: MultiDict[str, str] = field(default_factory=MultiDict)
    errors: dict[str, str] = field(default_factory=dict)
    _shown: set[str] = field(default_factory=set, init=False, repr=False)

    def get(self, name: str, default: str = "") -> str:
        return self.values.get(name, default)

    def getlist(self, name: str) -> list[str]:
        return self.values.getlist(name)

    def rows(self, prefix: str) -> list[int]:
        """Indices of the rows under `prefix` (`paths` -> [0, 1] for `paths.0.*`, `paths.1.*`)."""
        found = set()
        start = prefix + "."
        for key in self.values:
            if key.startswith(start):
                head = key[len(start) :].split(".", 1)[0]
                if head.isdigit():
                    found.add(int(head))
        return sorted(found)

    def has_error(self, name: str) -> bool:
        return name in self.errors

    def error(self, name: str) -> str | None:
        self._shown.add(name)
        return self.errors.get(name)

    def leftover_errors(self) -> list[tuple[str, str]]:
        return [(name, msg) for name, msg in self.errors.items() if name not in self._shown]

    def add_error(self, name: str, message: str) -> None:
        self.errors.setdefault(name, message)


# --- Typed values ------------------------------------------------------------------------------


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")  # Python's json would accept NaN, Infinity


def value_from_text(text: str) -> JsonValue:
    """Typed text to a JSON value (rules in the module docstring)."""
    stripped = text.strip()
    if not stripped:
        return None
    try:
        return json.loads(stripped, parse_constant=_reject_constant)
    except ValueError:
        return stripped


def value_to_text(value: Any) -> str:
    """The text that `value_from_text` reads back as `value`."""
    if value is None:
        return ""
    if isinstance(value, str) and value and value_from_text(value) == value:
        return value
    return json.dumps(value, ensure_ascii=False)


# --- Reading posted values -----------------------------------------------------------------------


class FormReader:
    """Posted values with the small conversions every form needs, and local errors."""

    def __init__(self, values: MultiDict[str, str]) -> None:
        self.form = FormData(values)

    def text(self, name: str) -> str:
        return self.form.get(name).strip()

    def long_text(self, name: str) -> str:
        """A textarea as typed; browsers send CRLF line ends."""
        return self.form.get(name).replace("\r\n", "\n")

    def optional(self, name: str) -> str | None:
        return self.text(name) or None

    def optional_long_text(self, name: str) -> str | None:
        text = self.long_text(name)
        return text if text.strip() else None

    def integer(self, name: str) -> int | str | None:
        """An int, or the text itself so the model reports it, or None when empty."""
        text = self.text(name)
        if not text:
            return None
        try:
            return int(text)
        except ValueError:
            return text

    def rows(self, prefix: str) -> list[int]:
        return self.form.rows(prefix)

    def properties(self, prefix: str, group: str = "props") -> dict[str, JsonValue] | None:
        """Key/value rows under `prefix.<group>`; None when there are none."""
        found: dict[str, JsonValue] = {}
        for index in self.rows(f"{prefix}.{group}"):
            row = f"{prefix}.{group}.{index}"
            key, value = self.text(f"{row}.key"), self.form.get(f"{row}.value")
            if not key and not value.strip():
                continue
            if not key:
                self.form.add_error(f"{row}.key", "a property needs a name")
            elif key in found:
                self.form.add_error(f"{row}.key", f"property {key!r} is given twice")
            else:
                found[key] = value_from_text(value)
        return found or None


def properties_to_form(prefix: str, properties: Any, group: str = "props") -> list[tuple[str, str]]:
    if not isinstance(properties, dict):
        return []
    pairs: list[tuple[str, str]] = []
    for index, (key, value) in enumerate(properties.items()):
        pairs += [(f"{prefix}.{group}.{index}.key", str(key))]
        pairs += [(f"{prefix}.{group}.{index}.value", value_to_text(value))]
    return pairs


def _dicts(items: Any) -> list[dict[str, Any]]:
    """The rows of a stored list; an unfinished draft may hold anything, shown as blank rows."""
    return [item if isinstance(item, dict) else {} for item in items or []]


def _drop_none(data: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in data.items() if value is not None}


def _text(value: Any) -> str:
    return "" if value is None else str(value)


# --- email ----------------------------------------------------------------------------------------

_VARIANT_PARTS = ("subject", "body", "text")


def _email_to_form(config: dict[str, Any]) -> list[tuple[str, str]]:
    pairs = [(key, _text(config.get(key))) for key in ("subject", "from_name", "body", "text")]
    for index, variant in enumerate(_dicts(config.get("variants"))):
        row = f"variants.{index}"
        pairs += [(f"{row}.key", _text(variant.get("key")))]
        pairs += [(f"{row}.weight", _text(variant.get("weight")))]
        pairs += [(f"{row}.{part}", _text(variant.get(part))) for part in _VARIANT_PARTS]
    ab_test = config.get("ab_test") if isinstance(config.get("ab_test"), dict) else {}
    pairs += [("ab_test.metric", _text(ab_test.get("metric")))]
    pairs += [("ab_test.pick_winner_after", _text(ab_test.get("pick_winner_after")))]
    return pairs


def _email_from_form(read: FormReader) -> dict[str, Any]:
    variants = []
    for index in read.rows("variants"):
        row = f"variants.{index}"
        variant = {"key": read.text(f"{row}.key"), "weight": read.integer(f"{row}.weight")}
        variant["subject"] = read.optional(f"{row}.subject")
        variant["body"] = read.optional_long_text(f"{row}.body")
        variant["text"] = read.optional_long_text(f"{row}.text")
        if variant["weight"] is None:
            read.form.add_error(f"{row}.weight", "give each variant a weight, such as 50")
        variants.append(_drop_none(variant))
    metric = read.optional("ab_test.metric")
    pick_after = read.integer("ab_test.pick_winner_after")
    if pick_after is not None and metric is None:
        read.form.add_error("ab_test.metric", "choose the metric that picks the winner")
    ab_test = _drop_none({"metric": metric, "pick_winner_after": pick_after}) if metric else None
    return _drop_none(
        {
            "subject": read.text("subject"),
            "body": read.long_text("body"),
            "text": read.optional_long_text("text"),
            "from_name": read.optional("from_name"),
            "variants": variants or None,
            "ab_test": ab_test,
        }
    )


def email_preview_parts(
    values: MultiDict[str, str], stored: dict[str, Any]
) -> tuple[str, str, str | None]:
    """Subject, HTML and text to preview, with the chosen variant's overrides.

    The posted fields are previewed as typed; a form that posts none (its fields are
    disabled while the sequence is active) previews the stored step instead.
    """
    source = values if "body" in values else form_from_config("email", stored).values
    read = FormReader(source)
    parts = {"subject": read.text("subject"), "body": read.long_text("body")}
    parts["text"] = read.long_text("text")
    chosen = values.get("preview.variant", "").strip()
    for index in read.rows("variants") if chosen else []:
        row = f"variants.{index}"
        if read.text(f"{row}.key") == chosen:
            overrides = {part: read.long_text(f"{row}.{part}") for part in _VARIANT_PARTS}
            parts |= {part: text for part, text in overrides.items() if text.strip()}
    return parts["subject"].strip(), parts["body"], parts["text"] or None


# --- delay ----------------------------------------------------------------------------------------


def _clock_text(value: Any) -> str:
    """'9:00' as '09:00': what a time input shows."""
    text = _text(value)
    return f"0{text}" if re.fullmatch(r"\d:\d\d", text) else text


def _delay_to_form(config: dict[str, Any]) -> list[tuple[str, str]]:
    pairs = [("until", _text(config.get("until")))]
    for key in ("duration", "weekday", "at", "field", "offset", "timezone"):
        pairs.append((key, _text(config.get(key))))
    pairs.append(("if_past", _text(config.get("if_past") or "continue")))
    pairs.append(("time", _clock_text(config.get("time"))))
    window = config.get("window")
    if isinstance(window, dict):
        pairs.append(("window.enabled", "on"))
        pairs += [("window.weekdays", day) for day in window.get("weekdays") or WEEKDAYS]
        pairs.append(("window.start", _clock_text(window.get("start"))))
        pairs.append(("window.end", _clock_text(window.get("end"))))
        pairs.append(("window.timezone", _text(window.get("timezone") or "recipient")))
        pairs.append(("if_window_missed", _text(config.get("if_window_missed") or "next_window")))
    return pairs


def _delay_from_form(read: FormReader) -> dict[str, Any]:
    until = read.text("until")
    timezone = read.optional("timezone")
    if until == "weekday":
        return _drop_none(
            {
                "until": "weekday",
                "weekday": read.text("weekday"),
                "time": read.text("time"),
                "timezone": timezone,
            }
        )
    if_past = read.text("if_past")
    if_past = None if if_past in ("", "continue") else if_past  # the default is not written
    if until == "datetime":
        return _drop_none(
            {"until": "datetime", "at": read.text("at"), "timezone": timezone, "if_past": if_past}
        )
    if until == "field":
        return _drop_none(
            {
                "until": "field",
                "field": read.text("field"),
                "offset": read.optional("offset"),
                "timezone": timezone,
                "if_past": if_past,
            }
        )
    if until:
        return {"until": until}  # the model names the unknown mode
    config: dict[str, Any] = {"duration": read.text("duration")}
    if read.form.get("window.enabled"):
        weekdays = [day for day in read.form.getlist("window.weekdays") if day]
        if not weekdays:
            read.form.add_error("window.weekdays", "choose at least one day")
        config["window"] = {
            "weekdays": weekdays,
            "start": read.text("window.start"),
            "end": read.text("window.end"),
            "timezone": read.text("window.timezone") or "recipient",
        }
        config["if_window_missed"] = read.text("if_window_missed") or "next_window"
    return config


# --- wait_until -----------------------------------------------------------------------------------


def _wait_to_form(config: dict[str, Any]) -> list[tuple[str, str]]:
    conditions = _dicts(config.get("conditions")) or [{}]
    pairs: list[tuple[str, str]] = []
    for index, condition in enumerate(conditions):
        row = f"conditions.{index}"
        event = _text(condition.get("event"))
        if "field" in condition:
            pairs += [(f"{row}.kind", "field"), (f"{row}.field", _text(condition["field"]))]
        elif event in EMAIL_EVENTS:
            pairs += [(f"{row}.kind", "email"), (f"{row}.email_event", event)]
            pairs += [(f"{row}.email_step_id", _text(condition.get("email_step_id")))]
            pairs += [(f"{row}.link_url_contains", _text(condition.get("link_url_contains")))]
        else:
            pairs += [(f"{row}.kind", "event"), (f"{row}.event", event)]
            pairs += properties_to_form(row, condition.get("properties"))
            pairs += properties_to_form(row, condition.get("match"), "match")
        pairs.append((f"{row}.timeout", _text(condition.get("timeout"))))
    return pairs


def _wait_from_form(read: FormReader) -> dict[str, Any]:
    conditions = []
    for index in read.rows("conditions"):
        row = f"conditions.{index}"
        kind, timeout = read.text(f"{row}.kind"), read.text(f"{row}.timeout")
        if kind == "field":
            conditions.append({"field": read.text(f"{row}.field"), "timeout": timeout})
        elif kind == "email":
            event = read.text(f"{row}.email_event")
            link = read.optional(f"{row}.link_url_contains") if event == "clicked_link" else None
            condition = {"event": event, "email_step_id": read.optional(f"{row}.email_step_id")}
            condition |= {"link_url_contains": link, "timeout": timeout}
            conditions.append(_drop_none(condition))
        else:
            event = read.text(f"{row}.event")
            if event in EMAIL_EVENTS:
                read.form.add_error(f"{row}.event", f"{event!r} is an email event; choose Email")
            condition = {"event": event, "timeout": timeout}
            condition |= {
                "properties": read.properties(row),
                "match": read.properties(row, "match"),
            }
            conditions.append(_drop_none(condition))
    if not conditions:
        read.form.add_error("conditions", "add at least one condition to wait for")
    return {"conditions": conditions}


def _wait_field_name(path: str, values: MultiDict[str, str]) -> str:
    match = re.fullmatch(r"conditions\.(\d+)(?:\.(\w+))?.*", path)
    if match is None:
        return path
    row, key = f"conditions.{match[1]}", match[2]
    if key is None:
        return f"{row}.kind"
    is_email = values.get(f"{row}.kind") == "email"
    if key == "event" and is_email:
        return f"{row}.email_event"
    if key in ("email_step_id", "link_url_contains") and not is_email:
        return f"{row}.event"  # a custom event named like an email event: said there already
    return f"{row}.props" if key == "properties" else f"{row}.{key}"


# --- branch ---------------------------------------------------------------------------------------

GROUP_KINDS = ("all", "any", "not")
_LEAF_KEYS = (
    "email_step_id",
    "event",
    "link_url_contains",
    "lookback_window",
    "field",
    "op",
    "segment",
    "tag",
)


def _condition_to_form(condition: Any, prefix: str) -> list[tuple[str, str]]:
    if not isinstance(condition, dict) or not condition:
        return [(f"{prefix}.kind", "email_event")]
    for group in ("all", "any"):
        if group in condition:
            pairs = [(f"{prefix}.kind", group)]
            for index, item in enumerate(condition[group] or []):
                pairs += _condition_to_form(item, f"{prefix}.items.{index}")
            return pairs
    if "not" in condition:
        return [
            (f"{prefix}.kind", "not"),
            *_condition_to_form(condition["not"], f"{prefix}.items.0"),
        ]
    kind = _text(condition.get("type"))
    pairs = [(f"{prefix}.kind", kind)]
    pairs += [(f"{prefix}.{key}", _text(condition[key])) for key in _LEAF_KEYS if key in condition]
    if kind == "field":
        pairs.append((f"{prefix}.value", value_to_text(condition.get("value"))))
    return pairs + properties_to_form(prefix, condition.get("properties"))


def _condition_from_form(read: FormReader, prefix: str, depth: int = 0) -> dict[str, Any]:
    kind = read.text(f"{prefix}.kind")
    if kind in GROUP_KINDS:
        if depth >= MAX_CONDITION_DEPTH:
            read.form.add_error(f"{prefix}.kind", "conditions are nested too deeply")
            return {kind: []}
        items = [
            _condition_from_form(read, f"{prefix}.items.{index}", depth + 1)
            for index in read.rows(f"{prefix}.items")
        ]
        if not items:
            read.form.add_error(f"{prefix}.items", "add at least one condition to this group")
        if kind != "not":
            return {kind: items}
        if len(items) != 1:
            message = "'Not' takes exactly one condition; put an 'Any of' group inside it"
            read.form.add_error(f"{prefix}.items", message)
        return {"not": items[0] if items else {}}
    if kind == "email_event":
        event = read.text(f"{prefix}.event")
        link = read.optional(f"{prefix}.link_url_contains") if event == "clicked_link" else None
        return _drop_none(
            {
                "type": kind,
                "email_step_id": read.text(f"{prefix}.email_step_id"),
                "event": event,
                "link_url_contains": link,
                "lookback_window": read.optional(f"{prefix}.lookback_window"),
            }
        )
    if kind == "event":
        return _drop_none(
            {
                "type": kind,
                "event": read.text(f"{prefix}.event"),
                "lookback_window": read.optional(f"{prefix}.lookback_window"),
                "properties": read.properties(prefix),
            }
        )
    if kind == "field":
        condition = {
            "type": kind,
            "field": read.text(f"{prefix}.field"),
            "op": read.text(f"{prefix}.op"),
        }
        if condition["op"] != "exists":  # the value box is hidden then; a stale value is dropped
            condition["value"] = value_from_text(read.form.get(f"{prefix}.value"))
        return condition
    if kind in ("segment", "tag"):
        return {"type": kind, kind: read.text(f"{prefix}.{kind}")}
    return {"type": kind}  # the model names the unknown kind


def _branch_to_form(config: dict[str, Any]) -> list[tuple[str, str]]:
    return _condition_to_form(config.get("condition"), "cond")


def _branch_from_form(read: FormReader) -> dict[str, Any]:
    return {"condition": _condition_from_form(read, "cond")}


def _branch_field_name(path: str, values: MultiDict[str, str]) -> str:
    """`condition.all.0.not.value` -> `cond.items.0.items.0.value`."""
    parts = path.split(".")
    out = ["cond"] if parts[:1] == ["condition"] else parts[:1]
    for part in parts[1:]:
        if part == "properties":
            out.append("props")  # the rows as a whole: a property's name is not a field
            break
        out += {"all": ["items"], "any": ["items"], "not": ["items", "0"]}.get(part, [part])
        if out[-1] == "type":
            out[-1] = "kind"
    at_node = out[-1] == "cond" or (len(out) >= 2 and out[-2] == "items" and out[-1].isdigit())
    return ".".join([*out, "kind"] if at_node else out)


# --- split, action, goal, end --------------------------------------------------------------------


def _split_to_form(config: dict[str, Any]) -> list[tuple[str, str]]:
    pairs = []
    for index, path in enumerate(_dicts(config.get("paths"))):
        pairs += [(f"paths.{index}.label", _text(path.get("label")))]
        pairs += [(f"paths.{index}.percent", _text(path.get("percent")))]
    return pairs


def _split_from_form(read: FormReader) -> dict[str, Any]:
    paths = []
    for index in read.rows("paths"):
        percent = read.integer(f"paths.{index}.percent")
        if percent is None:
            read.form.add_error(f"paths.{index}.percent", "give this path a share, such as 50")
        paths.append({"label": read.text(f"paths.{index}.label"), "percent": percent})
    if len(paths) < 2:
        read.form.add_error("paths", "a split needs at least two paths")
    return {"paths": paths}


def _action_to_form(config: dict[str, Any]) -> list[tuple[str, str]]:
    pairs = [(key, _text(config.get(key))) for key in ("action", "tag", "field", "sequence")]
    return [*pairs, ("value", value_to_text(config.get("value")))]


def _action_from_form(read: FormReader) -> dict[str, Any]:
    action = read.text("action")
    if action in ("add_tag", "remove_tag"):
        return {"action": action, "tag": read.text("tag")}
    if action == "update_field":
        value = value_from_text(read.form.get("value"))
        return {"action": action, "field": read.text("field"), "value": value}
    if action == "move_to_sequence":
        return {"action": action, "sequence": read.text("sequence")}
    return {"action": action}


def _goal_to_form(config: dict[str, Any]) -> list[tuple[str, str]]:
    return [("goal", _text(config.get("goal")))]


def _goal_from_form(read: FormReader) -> dict[str, Any]:
    return {"goal": read.text("goal")}


def _end_to_form(config: dict[str, Any]) -> list[tuple[str, str]]:
    return []


def _end_from_form(read: FormReader) -> dict[str, Any]:
    return {}


def _plain_field_name(path: str, values: MultiDict[str, str]) -> str:
    return path


@dataclass(frozen=True)
class _Codec:
    to_form: Callable[[dict[str, Any]], list[tuple[str, str]]]
    from_form: Callable[[FormReader], dict[str, Any]]
    field_name: Callable[[str, MultiDict[str, str]], str] = _plain_field_name


_CODECS: dict[str, _Codec] = {
    "email": _Codec(_email_to_form, _email_from_form),
    "delay": _Codec(_delay_to_form, _delay_from_form),
    "wait_until": _Codec(_wait_to_form, _wait_from_form, _wait_field_name),
    "branch": _Codec(_branch_to_form, _branch_from_form, _branch_field_name),
    "split": _Codec(_split_to_form, _split_from_form),
    "action": _Codec(_action_to_form, _action_from_form),
    "goal": _Codec(_goal_to_form, _goal_from_form),
    "end": _Codec(_end_to_form, _end_from_form),
}


# --- Public API -----------------------------------------------------------------------------------


def form_from_config(step_type: str, config: dict[str, Any], name: str | None = None) -> FormData:
    """The form showing a stored step; unfinished configs show what they have."""
    pairs = [("name", name or ""), *_CODECS[step_type].to_form(dict(config or {}))]
    return FormData(MultiDict(pairs))


def config_from_form(
    step_type: str, values: MultiDict[str, str]
) -> tuple[dict[str, Any] | None, FormData]:
    """The config the form describes, or None and the form with a message per bad field."""
    codec = _CODECS[step_type]
    read = FormReader(compact(values))
    config = codec.from_form(read)
    name = read.text("name")
    if len(name) > 255:
        read.form.add_error("name", f"at most 255 characters, got {len(name)}")

    def field_name(path: str) -> str:  # problems say `config.paths.0.label`
        return codec.field_name(path.removeprefix("config").lstrip("."), read.form.values)

    place_problems(read.form, step_config_problems(step_type, config), field_name)
    return (None if read.form.errors else config), read.form


def step_name(values: MultiDict[str, str]) -> str | None:
    return values.get("name", "").strip() or None


def place_problems(
    form: FormData, problems: Iterable[Problem], field_name: Callable[[str], str]
) -> None:
    """Attach each problem to the form field it concerns (the first one per field wins)."""
    for problem in problems:
        path = re.sub(r"\[(\d+)\]", r".\1", problem.field or "")
        form.add_error(field_name(path), problem.message)


# --- Adding and removing rows ---------------------------------------------------------------------

_NEW_ROWS: dict[str, tuple[tuple[str, str], ...]] = {
    "paths": (("label", ""), ("percent", "")),
    "variants": (("key", ""), ("weight", "50"), ("subject", "")),
    "conditions": (("kind", "event"), ("event", ""), ("timeout", "")),
    "props": (("key", ""), ("value", "")),
    "items": (("kind", "email_event"),),
    "goals": (("name", ""), ("when", "field_change"), ("action", "exit")),
}
_NEW_WINDOW = (
    *[("window.weekdays", day) for day in WEEKDAYS[:5]],
    ("window.start", "09:00"),
    ("window.end", "17:00"),
    ("window.timezone", "recipient"),
    ("if_window_missed", "next_window"),
)
_OP = re.compile(r"(add|group|remove):([A-Za-z_]+(?:\.(?:\d+|[A-Za-z_]+))*)")


def apply_op(values: MultiDict[str, str], op: str) -> MultiDict[str, str]:
    """Add or remove a row without saving: `add:paths`, `group:cond.items`, `remove:paths.1`.

    The form is posted with what the user typed so far, so nothing typed is lost. Unknown
    operations (and `refresh`, used when a choice changes which fields show) change nothing,
    except that a delivery window just switched on gets its usual hours.
    """
    return _with_new_window(compact(_changed(values, op)))


def _changed(values: MultiDict[str, str], op: str) -> MultiDict[str, str]:
    match = _OP.fullmatch(op)
    if match is None:
        return values
    action, target = match[1], match[2]
    if action == "remove":
        return MultiDict([(k, v) for k, v in values.items(multi=True) if not _under(k, target)])
    kind = target.rsplit(".", 1)[-1]
    if kind not in _NEW_ROWS or (action == "group" and kind != "items"):
        return values
    rows = FormData(values).rows(target)
    row = f"{target}.{rows[-1] + 1 if rows else 0}"
    added = MultiDict(values)
    if action == "group":
        added.add(f"{row}.kind", "all")
        added.add(f"{row}.items.0.kind", "email_event")
    else:
        for key, default in _NEW_ROWS[kind]:
            added.add(f"{row}.{key}", default)
    return added


def _with_new_window(values: MultiDict[str, str]) -> MultiDict[str, str]:
    """A delivery window just switched on starts as the seed's: weekdays, 9 to 5, local time."""
    if not values.get("window.enabled") or "window.start" in values:
        return values
    filled = MultiDict(values)
    for key, value in _NEW_WINDOW:
        filled.add(key, value)
    return filled


def _under(key: str, prefix: str) -> bool:
    return key == prefix or key.startswith(prefix + ".")


def compact(values: MultiDict[str, str]) -> MultiDict[str, str]:
    """Renumber rows 0, 1, 2... in their order, so form names match list positions."""
    children: dict[tuple[str, ...], set[int]] = defaultdict(set)
    split_keys = [(key.split("."), value) for key, value in values.items(multi=True)]
    for parts, _ in split_keys:
        for index, part in enumerate(parts):
            if part.isdigit():
                children[tuple(parts[:index])].add(int(part))
    rank = {
        parent: {old: new for new, old in enumerate(sorted(found))}
        for parent, found in children.items()
    }
    renamed = []
    for parts, value in split_keys:
        new = [
            str(rank[tuple(parts[:index])][int(part)]) if part.isdigit() else part
            for index, part in enumerate(parts)
        ]
        renamed.append((".".join(new), value))
    return MultiDict(renamed)
