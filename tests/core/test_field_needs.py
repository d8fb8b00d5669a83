"""What the steps read and what nothing supplies: delays until a field, branch conditions on
fields, personalisation without a default; judged against the trigger and the variables,
naming the steps by their names."""

from __future__ import annotations

from app.core.draft import DraftStep
from app.core.field_needs import FieldNeed, Provided, field_needs, gaps
from app.core.variables import sequence_variables

STEPS = [
    DraftStep(
        "invite",
        "email",
        {
            "subject": "Hi {{ contact.first_name or 'there' }}",
            "body": "<p>{{ contact.company }} / {{ contact.plan|default('free') }} / "
            "{{sequence.webinar_at}} / {{ contact.fields.city | e }}</p>",
            "variants": [{"key": "B", "weight": 50, "subject": "For {{ contact.role }}"}],
        },
        "Invite",
    ),
    DraftStep("wait", "delay", {"until": "field", "field": "renewal_at", "offset": "-1 day"}),
    DraftStep(
        "big",
        "branch",
        {
            "condition": {
                "any": [
                    {"type": "field", "field": "company_size", "op": "gt", "value": 50},
                    {"not": {"type": "field", "field": "country", "op": "eq", "value": "FR"}},
                ]
            }
        },
        "Big company?",
    ),
]


def test_the_steps_read_timed_fields_condition_fields_and_bare_personalisation():
    assert field_needs(STEPS) == [
        FieldNeed("Invite", "company", "personalisation"),
        FieldNeed("Invite", "sequence.webinar_at", "personalisation"),
        FieldNeed("Invite", "city", "personalisation"),
        FieldNeed("Invite", "role", "personalisation"),
        FieldNeed("wait", "renewal_at", "delay"),
        FieldNeed("Big company?", "country", "condition"),
        FieldNeed("Big company?", "company_size", "condition"),
    ]


def test_a_delay_on_a_field_nothing_supplies_blocks_and_other_gaps_warn():
    found = {gap.field: gap for gap in gaps(field_needs(STEPS), Provided(), {})}
    assert found["renewal_at"].blocking
    assert "'wait'" in found["renewal_at"].detail
    assert "wait is skipped" in found["renewal_at"].detail
    assert not found["company"].blocking and not found["country"].blocking
    assert found["sequence.webinar_at"].blocking
    assert found["sequence.webinar_at"].label == "Sequence variable webinar_at does not exist"


def test_fields_the_trigger_always_supplies_raise_nothing_and_optional_ones_warn():
    provided = Provided(
        always=frozenset({"company", "city", "role", "country", "company_size"}),
        sometimes=frozenset({"renewal_at"}),
    )
    variables = sequence_variables(
        {"variables": {"webinar_at": {"type": "datetime", "value": "2027-03-15T12:00"}}}
    )
    [gap] = gaps(field_needs(STEPS), provided, variables)
    assert (gap.field, gap.blocking, gap.label) == (
        "renewal_at",
        False,
        "Field renewal_at may be missing",
    )


def test_an_event_trigger_may_carry_any_property_so_a_timed_field_only_warns():
    [gap] = gaps([FieldNeed("Wait", "renewal_at", "delay")], Provided(open_properties=True), {})
    assert not gap.blocking and "the triggering event may carry it" in gap.detail


def test_a_delay_until_a_text_variable_or_an_unset_one_blocks():
    need = [FieldNeed("Until the launch", "sequence.launch", "delay")]
    text = sequence_variables({"variables": {"launch": "soon"}})
    unset = sequence_variables({"variables": {"launch": {"type": "datetime"}}})
    assert (
        gaps(need, Provided(), text)[0].label == "Sequence variable launch is not a date and time"
    )
    assert gaps(need, Provided(), unset)[0].label == "Sequence variable launch is not set"
