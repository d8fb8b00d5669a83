"""Characters that cannot belong in stored text.

NUL cannot be stored in PostgreSQL text at all. Other C0 controls and DEL have no meaning
in a name or a body. In a single line (names, subjects, `from_name`, addresses) a line
break of any kind (CR, LF, NEL, U+2028, U+2029) would end up inside a mail header, where it
either splits the header or makes every later message fail to build, so it is refused when
the value is saved. Tabs are allowed in multi-line text only.
"""

from __future__ import annotations

import re

_MULTI_LINE_BAD = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_SINGLE_LINE_BAD = re.compile(r"[\x00-\x1f\x7f\x85\u2028\u2029]")
_NAMES = {
    "\x00": "a NUL character",
    "\t": "a tab",
    "\n": "a line break",
    "\r": "a line break",
    "\x85": "a line break (U+0085)",
    "\u2028": "a line break (U+2028)",
    "\u2029": "a paragraph break (U+2029)",
}


def _describe(char: str) -> str:
    return _NAMES.get(char, f"the control character U+{ord(char):04X}")


def single_line_problem(text: str) -> str | None:
    """Why `text` cannot be a one-line value (a name, subject or address), or None."""
    found = _SINGLE_LINE_BAD.search(text)
    return None if found is None else f"must be one line without {_describe(found.group())}"


def multi_line_problem(text: str) -> str | None:
    """Why `text` cannot be stored as multi-line text (a body, a description), or None."""
    found = _MULTI_LINE_BAD.search(text)
    return None if found is None else f"must not contain {_describe(found.group())}"


def single_line(text: str) -> str:
    """`text` when it is one clean line; ValueError otherwise (a pydantic validator)."""
    problem = single_line_problem(text)
    if problem is not None:
        raise ValueError(problem)
    return text


def multi_line(text: str) -> str:
    """`text` when it holds no control character but tabs and line breaks; else ValueError."""
    problem = multi_line_problem(text)
    if problem is not None:
        raise ValueError(problem)
    return text
