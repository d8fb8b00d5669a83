"""Definitions refuse what cannot be stored or sent: oversized text, control characters in
one-line values, absurd dates and positions, too many steps, and YAML aliases."""

from __future__ import annotations

import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from app.core import limits
from app.core.engine import Graph, Position, Step, advance
from app.core.format.parse import parse_definition
from app.core.format.problems import DefinitionError
from app.core.timing import TargetOutOfRange, delay_due

NEW_YORK = ZoneInfo("America/New_York")
T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)

BILLION_LAUGHS = """\
name: laughs
description: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
steps: [*i,*i,*i,*i,*i,*i,*i,*i,*i]
"""


def one_email(**config: Any) -> dict[str, Any]:
    body = {"subject": "Hi", "body": "<p>Hi</p>", **config}
    return {"name": "S", "steps": [{"id": "mail", "type": "email", "config": body}]}


def problem_of(source: Any) -> tuple[str | None, str | None, str]:
    with pytest.raises(DefinitionError) as caught:
        parse_definition(source)
    first = caught.value.first
    return first.step, first.field, first.message


def test_a_delay_until_the_year_9999_in_new_york_is_refused_naming_the_step_and_field() -> None:
    until = {"until": "datetime", "at": "9999-12-31T23:59:59", "timezone": "America/New_York"}
    source = {"name": "S", "steps": [{"id": "wait", "type": "delay", "config": until}]}
    step, field, message = problem_of(source)
    assert (step, field) == ("wait", "config.at")
    assert "2100" in message


def test_a_stored_target_after_2100_fails_the_enrollment_instead_of_sending_at_once() -> None:
    until = {"until": "datetime", "at": "9999-12-31T23:59:59", "timezone": "America/New_York"}
    steps = [
        Step("wait", "wait", "delay", until, {None: "mail"}),
        Step("mail", "mail", "email", {"subject": "s", "body": "b"}, {}),
    ]
    out = advance(Graph("wait", {s.id: s for s in steps}), Position("wait", None, {}, NEW_YORK), T0)
    assert out.emails == []
    assert out.status == "failed" and out.step_id == "wait"
    assert "wait" in (out.exit_reason or "") and "2100" in (out.exit_reason or "")


def test_a_contact_field_date_after_2100_is_out_of_range_not_past() -> None:
    config = {"until": "field", "field": "renewal_at"}
    with pytest.raises(TargetOutOfRange):
        delay_due(config, T0, NEW_YORK, {"renewal_at": "9999-12-31"})
    in_range = delay_due(config, T0, NEW_YORK, {"renewal_at": "2030-01-01"})
    assert in_range == datetime(2030, 1, 1, 5, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("config", "field"),
    [
        ({"subject": "Hi\r\nBcc: victim@example.com"}, "config.subject"),
        ({"subject": "x" * (limits.SUBJECT + 1)}, "config.subject"),
        ({"from_name": "Bob\u2028Bcc"}, "config.from_name"),
        ({"from_name": "Bob\nBcc"}, "config.from_name"),
        ({"body": "a\x00b"}, "config.body"),
        ({"body": "x" * (limits.BODY + 1)}, "config.body"),
    ],
)
def test_email_text_that_cannot_be_sent_is_refused_naming_the_field(
    config: dict[str, Any], field: str
) -> None:
    step, found, _ = problem_of(one_email(**config))
    assert (step, found) == ("mail", field)


def test_a_multi_line_body_with_tabs_is_fine() -> None:
    parse_definition(one_email(body="<p>\tone\r\ntwo\n</p>"))


@pytest.mark.parametrize(
    ("settings", "field"),
    [
        ({"from_name": "Acme\r\nBcc: x@example.com"}, "settings.from_name"),
        ({"from_email": "x@y.test,victim@z.test"}, "settings.from_email"),
        ({"from_email": "a@[127.0.0.1]"}, "settings.from_email"),
        ({"from_email": "<svg/onload=alert(1)>@x.com"}, "settings.from_email"),
    ],
)
def test_sender_settings_are_one_line_and_one_mailbox(settings: dict[str, Any], field: str) -> None:
    _, found, _ = problem_of(one_email() | {"settings": settings})
    assert found == field


def test_a_twenty_megabyte_description_is_refused() -> None:
    _, field, message = problem_of(one_email() | {"description": "x" * (limits.DESCRIPTION + 1)})
    assert field == "description" and "10000" in message


def test_more_steps_than_the_limit_are_refused() -> None:
    steps = [{"id": f"s{i}", "type": "end"} for i in range(limits.STEPS + 1)]
    _, field, _ = problem_of({"name": "S", "steps": steps})
    assert field == "steps"


@pytest.mark.parametrize("x", [2**31, -(2**31), 10**6])
def test_positions_beyond_the_canvas_are_refused(x: int) -> None:
    source = one_email()
    source["steps"][0]["position"] = {"x": x, "y": 0}
    step, field, _ = problem_of(source)
    assert (step, field) == ("mail", "position.x")


def test_a_billion_laughs_yaml_is_refused_at_once_with_flat_memory() -> None:
    assert len(BILLION_LAUGHS.encode()) < 800
    tracemalloc.start()
    started = time.perf_counter()
    try:
        _, _, message = problem_of(BILLION_LAUGHS)
        elapsed = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert "aliases" in message
    assert elapsed < 1.0
    assert peak < 2 * 2**20


def test_a_target_in_range_still_waits() -> None:
    config = {"until": "datetime", "at": "2100-12-31T23:59:59", "timezone": "America/New_York"}
    assert delay_due(config, T0, NEW_YORK) > T0 + timedelta(days=365 * 70)
