"""Saving an email whose template is over the render budget for the sample contact is
refused with 422 naming the step and the field, whichever way it is saved."""

from __future__ import annotations

import copy
import time
from typing import Any

from sqlalchemy import func, select

from app.extensions import db
from app.models import Sequence
from tests.api.test_transfer import send
from tests.helpers import onboarding_definition

NESTED = "{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}"
OVER = "template is over the render budget (more than 1,000,000 loop steps)"


def with_email_1(**config: Any) -> dict[str, Any]:
    definition = copy.deepcopy(onboarding_definition())
    definition["steps"][0]["config"].update(config)
    return definition


def sequence_count() -> int:
    return db.session.scalar(select(func.count(Sequence.id)))


def test_creating_a_sequence_with_an_over_budget_body_is_refused_naming_step_and_field(api):
    started = time.perf_counter()
    response = api.post("/api/sequences", json=with_email_1(body=NESTED))
    assert time.perf_counter() - started < 5
    assert response.status_code == 422
    assert response.json["error"] == {
        "message": f"step 'email_1' body: {OVER}",
        "field": "config.body",
        "step": "email_1",
        "problems": [
            {"message": f"step 'email_1' body: {OVER}", "field": "config.body", "step": "email_1"}
        ],
    }
    assert sequence_count() == 0


def test_a_patch_that_makes_the_subject_over_budget_is_refused_and_changes_nothing(api):
    created = api.post("/api/sequences", json=onboarding_definition()).json
    steps = copy.deepcopy(created["steps"])
    steps[2]["config"]["subject"] = "{{ 'x' * 1000000 }}{{ 'y' }}"  # one byte over 1 MB

    response = api.patch(f"/api/sequences/{created['id']}", json={"steps": steps})

    assert response.status_code == 422
    error = response.json["error"]
    assert (error["step"], error["field"]) == ("email_2", "config.subject")
    assert error["message"] == (
        "step 'email_2' subject: template is over the render budget "
        "(output is larger than 1,000,000 bytes)"
    )
    assert api.get(f"/api/sequences/{created['id']}").json["version"] == created["version"]


def test_an_over_budget_variant_is_named_by_its_index(api):
    variants = [
        {"key": "a", "weight": 50, "subject": "A"},
        {"key": "b", "weight": 50, "text": NESTED.replace("x", "")},
    ]
    response = api.post("/api/sequences", json=with_email_1(variants=variants))
    assert response.status_code == 422
    error = response.json["error"]
    assert (error["step"], error["field"]) == ("email_1", "config.variants[1].text")
    assert error["message"] == f"step 'email_1' variants[1].text: {OVER}"


def test_an_imported_file_over_budget_is_refused_and_creates_nothing(api):
    source = f"""
format: sequence/v1
name: Looping
steps:
  - id: only
    type: email
    config: {{subject: Hi, body: "{NESTED}"}}
"""
    response = send(api, "/api/sequences/import", data=source, content_type="application/yaml")
    assert response.status_code == 422
    assert response.json["error"]["message"] == f"step 'only' body: {OVER}"
    assert sequence_count() == 0


def test_templates_that_fail_only_for_some_contacts_can_still_be_saved(api):
    per_contact = "{% for i in range(contact.fields.n | int) %}x{% endfor %}"
    assert api.post("/api/sequences", json=with_email_1(body=per_contact)).status_code == 201
