"""Strict JSON input: no NaN or Infinity, and no nesting deeper than MAX_JSON_DEPTH.

Python's parser accepts `NaN`, turns `1e309` into infinity and recurses once per level, so a
body nested 50,000 deep would raise RecursionError. The depth is measured first, without
recursion, and those values are refused, so every such body is a 400 naming the problem.
"""

from __future__ import annotations

import json
import math
import re
from itertools import accumulate
from typing import Any

from flask.json.provider import DefaultJSONProvider

DEFAULT_MAX_DEPTH = 64
_BRACKET = re.compile(r"[\[\]{}]")
_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_DEPTH_CHANGE = {"[": 1, "{": 1, "]": -1, "}": -1}.__getitem__


class JsonRefused(ValueError):
    """Valid-looking JSON that the app refuses; the message names why."""


class StrictJSONProvider(DefaultJSONProvider):
    """Flask's JSON provider, parsing with the refusals above."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        text = s.decode(json.detect_encoding(s), "surrogatepass") if isinstance(s, bytes) else s
        limit = int(self._app.config.get("MAX_JSON_DEPTH", DEFAULT_MAX_DEPTH))
        if nesting_exceeds(text, limit):
            raise JsonRefused(f"JSON is nested deeper than {limit} levels")
        kwargs.setdefault("parse_constant", _refuse_constant)
        kwargs.setdefault("parse_float", _finite_float)
        return json.loads(text, **kwargs)


def nesting_exceeds(text: str, limit: int) -> bool:
    """True when arrays and objects nest deeper than `limit`; strings are skipped whole.

    Linear in the text: the strings are cut out in one pass, then only the brackets are
    counted (none at all when there are fewer than `limit`, in strings or not)."""
    if text.count("[") + text.count("{") <= limit:
        return False
    structure = _outside_strings(text)
    if structure.count("[") + structure.count("{") <= limit:
        return False
    depths = accumulate(map(_DEPTH_CHANGE, _BRACKET.findall(structure)))
    return any(depth > limit for depth in depths)


def _outside_strings(text: str) -> str:
    """The text without its strings, and without everything past an unterminated one.
    Without a backslash, a string is what lies between two quotes and splitting at the
    quotes cuts them out, in a third of the expression's time."""
    if "\\" not in text:
        return "".join(text.split('"')[::2])
    return _STRING.sub("", text).partition('"')[0]


def _refuse_constant(name: str) -> Any:
    raise JsonRefused(f"JSON numbers must be finite; {name} is not allowed")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise JsonRefused(f"the JSON number {text[:40]} is too large")
    return value
