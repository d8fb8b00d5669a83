"""The form settings page adds custom fields of each type (no JSON: choices one per line, a
time zone, a fixed value), with inline messages; the public page shows each as its own kind
of input and never shows a hidden field."""

from __future__ import annotations

import re
import uuid

import pytest

from app.extensions import db
from app.models import Form
from tests.web.test_forms_pages import Seeded, seeded  # noqa: F401 - the fixture


def add_field(seeded: Seeded, **new: str):  # noqa: F811
    page = f"/forms/{seeded.form_id}"
    shown = seeded.web.get(page).text
    labels = dict(re.findall(r'name="(label\.\w+)" value="([^"]*)"', shown))
    data = {
        "csrf_token": seeded.web.csrf_token(page),
        **labels,
        "success_message": "Thanks!",
        **{f"new.{key}": value for key, value in new.items()},
    }
    return seeded.web.post(page, data=data)


def fields_of(app, seeded: Seeded) -> dict[str, dict]:  # noqa: F811
    with app.app_context():
        form = db.session.get_one(Form, uuid.UUID(seeded.form_id))
        return {spec["name"]: spec for spec in form.fields}


def test_each_type_is_added_from_the_settings_page_and_shown_on_the_public_page(app, seeded):  # noqa: F811
    added = [
        {"name": "plan", "label": "Plan", "type": "select", "options": "Starter\r\nPro\r\n"},
        {"name": "seats", "label": "Seats", "type": "number"},
        {"name": "call_at", "label": "Call me at", "type": "datetime", "timezone": "Asia/Tokyo"},
        {"name": "campaign", "label": "Campaign", "type": "hidden", "value": "spring-27"},
    ]
    for new in added:
        assert add_field(seeded, **new).status_code == 303

    stored = fields_of(app, seeded)
    assert stored["plan"]["options"] == ["Starter", "Pro"]
    assert stored["call_at"]["timezone"] == "Asia/Tokyo"
    assert stored["campaign"]["value"] == "spring-27"
    public = seeded.public.get(f"/f/{seeded.public_id}").text
    assert '<select id="f-plan" name="plan">' in public
    assert "<option>Starter</option><option>Pro</option>" in public
    assert '<input type="number" step="any" id="f-seats" name="seats"' in public
    assert '<input type="datetime-local" id="f-call_at" name="call_at"' in public
    assert "Time zone: Asia/Tokyo" in public
    assert "campaign" not in public and "spring-27" not in public
    settings_page = seeded.web.get(f"/forms/{seeded.form_id}").text
    assert "choices: Starter, Pro" in settings_page and "always: spring-27" in settings_page


@pytest.mark.parametrize(
    ("new", "name", "message"),
    [
        ({"type": "select"}, "new.options", "give the choices, one per line"),
        ({"type": "datetime", "timezone": "Paris"}, "new.timezone", "choose the time zone"),
        ({"type": "hidden"}, "new.value", "give the value every submission carries"),
    ],
)
def test_a_type_missing_its_setting_is_refused_inline_beside_that_input(seeded, new, name, message):  # noqa: F811
    refused = add_field(seeded, name="extra", label="Extra", **new)
    assert refused.status_code == 422
    assert f'<p class="field-error" id="ff-{name}-error">{message}' in refused.text
