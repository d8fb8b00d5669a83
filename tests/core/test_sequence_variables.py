"""Sequence variables (`settings.variables`): the format accepts typed values and names the
field of a bad one; `until: field` delays on `sequence.<name>` wait for one instant for
every recipient, offsets counted in the variable's own zone; templates show the value."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from app.core.format.parse import definition_to_dict, parse_definition
from app.core.format.problems import DefinitionError
from app.core.timing import delay_due
from app.core.variables import sequence_variables, template_values

NEW_YORK_WEBINAR = {
    "timezone": "UTC",
    "variables": {
        "webinar_at": {
            "type": "datetime",
            "value": "2027-03-15T12:00",
            "timezone": "America/New_York",
        }
    },
}


def document(settings: dict) -> dict:
    return {
        "format": "sequence/v1",
        "name": "Webinar",
        "trigger": {"type": "manual"},
        "settings": settings,
        "steps": [{"id": "end", "type": "end", "config": {}}],
        "connections": [],
    }


def test_variables_of_each_type_are_kept_and_plain_values_read_as_text_or_number():
    settings = {
        "variables": {
            "webinar_at": {
                "type": "datetime",
                "value": "2027-03-15T12:00",
                "timezone": "Asia/Tokyo",
            },
            "code": "SPRING",
            "seats": 40,
            "unset_yet": {"type": "datetime"},
        }
    }
    stored = definition_to_dict(parse_definition(document(settings)))["settings"]["variables"]
    assert stored == {
        "webinar_at": {"type": "datetime", "value": "2027-03-15T12:00", "timezone": "Asia/Tokyo"},
        "code": {"type": "text", "value": "SPRING"},
        "seats": {"type": "number", "value": 40},
        "unset_yet": {"type": "datetime"},
    }


@pytest.mark.parametrize(
    ("variable", "field", "words"),
    [
        ({"type": "datetime", "value": "next week"}, "value", "ISO 8601"),
        ({"type": "datetime", "value": "2027-03-15T12:00", "timezone": "EST5"}, "timezone", "IANA"),
        (
            {"type": "datetime", "value": "2027-03-15T12:00+01:00", "timezone": "UTC"},
            "timezone",
            "offset",
        ),
        ({"type": "number", "value": "forty"}, "value", ""),
        ({"type": "colour", "value": "red"}, "type", "expected text, number or datetime"),
    ],
)
def test_a_bad_variable_is_refused_naming_its_field(variable, field, words):
    with pytest.raises(DefinitionError) as refused:
        parse_definition(document({"variables": {"webinar_at": variable}}))
    problem = refused.value.problems[0]
    assert problem.field == f"settings.variables.webinar_at.{field}"
    assert words in problem.message


def test_a_variable_name_must_be_usable_in_a_template():
    with pytest.raises(DefinitionError) as refused:
        parse_definition(document({"variables": {"Webinar At": "x"}}))
    assert "not a variable name" in refused.value.problems[0].message


def reminder(offset: str) -> dict:
    return {"until": "field", "field": "sequence.webinar_at", "offset": offset}


@pytest.mark.parametrize(
    ("offset", "due"),
    [
        ("-7 days", datetime(2027, 3, 8, 17, 0, tzinfo=UTC)),  # Mon 12:00 EST, before the change
        ("-1 day", datetime(2027, 3, 14, 16, 0, tzinfo=UTC)),  # Sun 12:00 EDT
        ("-1 hour", datetime(2027, 3, 15, 15, 0, tzinfo=UTC)),
        ("+1 day", datetime(2027, 3, 16, 16, 0, tzinfo=UTC)),
    ],
)
def test_a_delay_until_a_sequence_variable_counts_days_in_the_variables_zone_across_dst(
    offset, due
):
    """New York springs forward on Sunday 14 March 2027; the recipient is in Tokyo, whose
    clock does not move, and must still get the reminder at 12:00 New York time."""
    variables = sequence_variables(NEW_YORK_WEBINAR)
    entered = datetime(2027, 3, 1, 15, 0, tzinfo=UTC)
    got = delay_due(reminder(offset), entered, ZoneInfo("Asia/Tokyo"), {}, {}, variables)
    assert got == due


def test_a_delay_until_an_unset_or_missing_variable_is_not_a_wait():
    entered = datetime(2027, 3, 1, 15, 0, tzinfo=UTC)
    unset = sequence_variables({"variables": {"webinar_at": {"type": "datetime"}}})
    for variables in (unset, {}):
        assert delay_due(reminder("-1 day"), entered, ZoneInfo("UTC"), {}, {}, variables) == entered


def test_a_contact_field_of_the_same_name_does_not_stand_in_for_the_variable():
    entered = datetime(2027, 3, 1, 15, 0, tzinfo=UTC)
    fields = {"webinar_at": "2027-03-20T12:00:00+00:00", "sequence.webinar_at": "2027-03-20"}
    variables = sequence_variables(NEW_YORK_WEBINAR)
    got = delay_due(reminder("-1 hour"), entered, ZoneInfo("UTC"), fields, {}, variables)
    assert got == datetime(2027, 3, 15, 15, 0, tzinfo=UTC)


def test_templates_show_each_variable_and_a_date_time_in_its_own_zone():
    settings = {
        "timezone": "Europe/Paris",
        "variables": {
            "webinar_at": {"type": "datetime", "value": "2027-03-15T12:00"},
            "code": {"type": "text", "value": "SPRING"},
            "seats": {"type": "number", "value": 40},
            "later": {"type": "text"},
        },
    }
    assert template_values(settings) == {
        "webinar_at": "Monday 15 March 2027, 12:00 (Europe/Paris)",
        "code": "SPRING",
        "seats": "40",
        "later": "",
    }
