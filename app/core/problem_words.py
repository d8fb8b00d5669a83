"""Problems as a marketer reads them in the builder: steps by their names, never their ids.

A `Problem` keeps the step's id (the API's `step` field and its message name steps by id,
a contract for scripts); the pages say the same thing in the words of the person who named
the steps: "'Wait 2 days' cannot be reached from the first step 'Welcome email'" rather
than "step 'delay_1' is unreachable from the start step 'email_1'".
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping

from app.core.graph import Problem
from app.core.steps import KINDS

QUOTED = re.compile(r"'([^'\s]+)'")
# Settings the author picks from a list rather than types: "Choose a condition for ...".
CHOSEN = {"condition", "segment", "event", "goal", "form", "type", "action", "sequence", "step"}


def step_names(steps: Iterable[tuple[str, str | None, str]]) -> dict[str, str]:
    """Each step's name by id, from (id, name, type); an unnamed step is called by its
    kind's label ("Email"), as its card on the canvas is."""
    return {
        step_id: name.strip() if name and name.strip() else _label(step_type)
        for step_id, name, step_type in steps
    }


def _label(step_type: str) -> str:
    kind = KINDS.get(step_type)
    return kind.label if kind is not None else step_type


def in_words(problem: Problem, names: Mapping[str, str]) -> str:
    """The problem's sentence for the pages: a known message reworded, any other with its
    quoted step ids replaced by names and the step it is about named first."""

    def name(step_id: str) -> str:
        return f"'{names.get(step_id, step_id)}'"

    for pattern, reword in REWORDED:
        found = pattern.fullmatch(problem.message)
        if found:
            return reword(found, problem, name)
    message = QUOTED.sub(
        lambda m: name(m.group(1)) if m.group(1) in names else m.group(0), problem.message
    )
    if problem.step is None or name(problem.step) in message:
        return _capital(message)
    return f"{name(problem.step)}: {message}"


def _required(found: re.Match[str], problem: Problem, name: Callable[[str], str]) -> str:
    key = found.group(1).rsplit(".", 1)[-1]
    what = key.replace("_", " ")
    if problem.step is None:
        return f"Fill in the {what}"
    if key in CHOSEN:
        return f"Choose a {what} for {name(problem.step)}"
    return f"Fill in the {what} of {name(problem.step)}"


def _unreachable(found: re.Match[str], problem: Problem, name: Callable[[str], str]) -> str:
    return f"{name(found.group(1))} cannot be reached from the first step {name(found.group(2))}"


def _email_needs(found: re.Match[str], problem: Problem, name: Callable[[str], str]) -> str:
    where = f" {name(problem.step)}" if problem.step else ""
    return f"Write a {found.group(1)} for the email{where}"


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


Reword = Callable[[re.Match[str], Problem, Callable[[str], str]], str]
REWORDED: list[tuple[re.Pattern[str], Reword]] = [
    (re.compile(r"'([\w.\[\]]+)' is required"), _required),
    (re.compile(r"step '(.+)' is unreachable from the start step '(.+)'"), _unreachable),
    (re.compile(r"an email needs a (subject|body)"), _email_needs),
]
