"""Every size limit on stored input, in one table, so the API, the pages, imports and the
definition format refuse the same things with the same numbers.

Limits protect the other workspaces as much as the data: a 20 MB field or a 4 MB rule is
read by every later contact write, render and refresh. Names match their columns.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

NAME = 255
"""Names of contacts, sequences, steps, segments, goals; also `from_name` (VARCHAR(255))."""
EMAIL = 254
"""An address as SMTP carries it (RFC 5321 path limit)."""
SUBJECT = 500
"""A subject line before rendering: far above what any client shows, far below a header
line's 998 characters once encoded."""
BODY = 500_000
"""An email's HTML or plain-text body, in characters."""
DESCRIPTION = 10_000
TAG = 100
TAGS = 200
FIELD_KEY = 64
FIELD_VALUE = 10_000
"""One custom field's value, in characters of its JSON text."""
FIELDS = 200
"""Custom fields on one contact."""
JSON_DEPTH = 20
"""Nesting of any JSON value stored for a contact or in a definition."""
CONTEXT = 32_768
"""An enrollment's context or an event's properties, in characters of JSON text."""
STEPS = 500
CONNECTIONS = 2_000
CHOICES = 100
"""Goals of a sequence, paths of a split, conditions of a wait."""
VARIANTS = 10
BLOCKS = 50
"""Content blocks of one email (heading, text, button, ...)."""
BLOCK_TEXT = 10_000
"""A text or footer block's text, in characters."""
URL = 2_000
"""A link or image address in a block."""
RULE = 20_000
"""A segment rule, in characters of its JSON text."""
RULE_CONDITIONS = 200
"""Conditions (all/any/not included) in one segment rule."""
RULE_DEPTH = 10
POSITION = 1_000_000
"""Canvas coordinates: |x| and |y| below this."""
YEAR_MIN, YEAR_MAX = 2000, 2100
"""Years an `until` date may name: a typo such as 9999 is refused, not sent at once."""


def json_depth(value: Any) -> int:
    """How deeply a JSON value nests (a scalar is 0), without recursion, so a value nested
    50,000 levels is measured, not a RecursionError."""
    deepest, stack = 0, [(value, 0)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        if isinstance(node, Mapping):
            stack.extend((child, depth + 1) for child in node.values())
        elif isinstance(node, Sequence) and not isinstance(node, str | bytes):
            stack.extend((child, depth + 1) for child in node)
    return deepest


def json_size_problem(value: Any, max_chars: int, max_depth: int = JSON_DEPTH) -> str | None:
    """Why a JSON value is too big to store (depth first, so dumping it cannot recurse
    too deeply), or None."""
    if json_depth(value) > max_depth:
        return f"nests more than {max_depth} levels deep"
    size = len(json.dumps(value, ensure_ascii=False, default=str))
    if size > max_chars:
        return f"is {size:,} characters of JSON; the limit is {max_chars:,}"
    return None
