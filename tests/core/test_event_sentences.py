"""Every event a contact's timeline shows reads as a sentence: the email it is about named
by its subject, values quoted, a client's own events with their first properties."""

from __future__ import annotations

import pytest

from app.core import events as names
from app.core.event_sentences import MAX_VALUE, SENTENCES, event_sentence


@pytest.mark.parametrize(
    ("kind", "properties", "email", "sentence"),
    [
        ("opened", {"message_id": "<x@y>"}, "Welcome aboard", "Opened “Welcome aboard”"),
        ("opened", {}, None, "Opened an email"),
        (
            "clicked_link",
            {"url": "https://acme.example/demo"},
            "Welcome aboard",
            "Clicked https://acme.example/demo in “Welcome aboard”",
        ),
        ("replied", {"subject": "Re: hi"}, "Hi", "Replied to “Hi”"),
        (
            "bounced",
            {"status": "5.1.1", "hard": True},
            "Hi",
            "“Hi” bounced (status 5.1.1): the address is suppressed",
        ),
        ("complained", {}, "Hi", "Marked “Hi” as spam: the address is suppressed"),
        ("unsubscribed", {"method": "one_click"}, "Hi", "Unsubscribed with one click from “Hi”"),
        (
            "unsubscribed",
            {"method": "manual", "by": "m@acme.test"},
            None,
            "Unsubscribed by m@acme.test",
        ),
        (
            "resubscribed",
            {"by": "m@acme.test", "suppressed_for": "bounced"},
            None,
            "Allowed emails again by m@acme.test (was suppressed: bounced)",
        ),
        (
            "field_changed",
            {"field": "plan", "from": "free", "to": "pro"},
            None,
            "Changed plan from “free” to “pro”",
        ),
        ("field_changed", {"field": "seats", "from": None, "to": 3}, None, "Set seats to 3"),
        (
            "field_changed",
            {"field": "plan", "from": "pro", "to": None},
            None,
            "Removed plan (was “pro”)",
        ),
        ("form_submitted", {"form": "Ebook", "fields": {}}, None, "Submitted the form “Ebook”"),
        ("segment_joined", {"segment": "VIPs"}, None, "Joined the segment “VIPs”"),
        (
            "page_viewed",
            {"url": "https://acme.example/pricing"},
            None,
            "Viewed https://acme.example/pricing",
        ),
        (
            "user_login",
            {"plan": "pro", "seats": 3},
            None,
            "Did “user_login” (plan: “pro”, seats: 3)",
        ),
        ("webinar_joined", {}, None, "Did “webinar_joined”"),
    ],
)
def test_each_event_reads_as_a_sentence(kind, properties, email, sentence):
    assert event_sentence(kind, properties, email) == sentence


def test_every_system_event_has_its_own_sentence():
    system = {v for k, v in vars(names).items() if k.isupper() and isinstance(v, str)}
    assert system <= set(SENTENCES)


def test_long_values_and_many_properties_are_shortened():
    long = "x" * 200
    told = event_sentence("field_changed", {"field": "note", "from": None, "to": long})
    assert told == f"Set note to “{'x' * (MAX_VALUE - 1)}…”"
    many = {f"k{n}": n for n in range(8)}
    assert event_sentence("custom", many).endswith("k4: 4, 3 more)")
