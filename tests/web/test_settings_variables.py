"""The builder's settings panel edits the sequence's variables as a simple form (name, type,
value, time zone; no JSON): added with a button, saved typed, refused inline by field, and
kept when the rest of the settings are saved."""

from __future__ import annotations

from tests.web.test_panels import field_error, panel_values, seed


def test_a_variable_is_added_with_a_button_and_saved_typed(app):
    seeded = seed(app)
    values = panel_values(seeded.web.get(seeded.url("settings")).text)
    added = seeded.web.submit(seeded.url("settings"), data=values | {"_op": "add:vars"})
    values = panel_values(added.text)
    assert values["vars.0.type"] == "datetime" and 'type="datetime-local"' in added.text

    values |= {"vars.0.name": "seats", "vars.0.type": "number", "vars.0.value": "40"}
    saved = seeded.web.submit(seeded.url("settings"), data=values)

    assert 'class="saved"' in saved.text
    assert seeded.fresh().settings["variables"] == {"seats": {"type": "number", "value": 40}}
    again = panel_values(saved.text) | {"name": "Renamed"}  # saving other settings keeps them
    seeded.web.submit(seeded.url("settings"), data=again)
    assert seeded.fresh().settings["variables"] == {"seats": {"type": "number", "value": 40}}


def test_a_bad_variable_is_shown_beside_its_input_and_saves_nothing(app):
    seeded = seed(app)
    values = panel_values(seeded.web.get(seeded.url("settings")).text)
    values |= {
        "vars.0.name": "webinar_at",
        "vars.0.type": "datetime",
        "vars.0.value": "2027-03-15T12:00",
        "vars.0.timezone": "Mars/Olympus",
        "vars.1.name": "Seats Left",
        "vars.1.type": "number",
        "vars.1.value": "many",
    }
    refused = seeded.web.submit(seeded.url("settings"), data=values)

    assert "IANA time zone" in field_error(refused.text, "vars.0.timezone")
    assert "enter a number" in field_error(refused.text, "vars.1.value")
    assert "not a variable name" in field_error(refused.text, "vars.1.name")
    assert "variables" not in seeded.fresh().settings


def test_the_email_preview_shows_the_sequences_variables(app):
    seeded = seed(app)
    values = panel_values(seeded.web.get(seeded.url("settings")).text)
    values |= {
        "vars.0.name": "webinar_at",
        "vars.0.type": "datetime",
        "vars.0.value": "2027-03-15T12:00",
        "vars.0.timezone": "America/New_York",
    }
    seeded.web.submit(seeded.url("settings"), data=values)
    preview = seeded.web.submit(
        seeded.url("steps/email_1/preview"),
        data={"subject": "Live soon", "body": "<p>Join us {{ sequence.webinar_at }}</p>"},
    )
    assert "Join us Monday 15 March 2027, 12:00 (America/New_York)" in preview.text
