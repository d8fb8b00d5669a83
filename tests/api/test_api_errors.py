"""Bad input is refused with 422 naming the step and field, and nothing is stored."""

from __future__ import annotations

import copy

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import Sequence, SequenceConnection, SequenceStep
from tests.conftest import api_for
from tests.helpers import onboarding_definition


def broken(mutate) -> dict:
    definition = copy.deepcopy(onboarding_definition())
    mutate(definition)
    return definition


def _unknown_type(d):
    d["steps"][1]["type"] = "teleport"


def _dangling(d):
    d["connections"].append({"source": "email_3", "target": "nowhere"})


def _branch_missing_path(d):
    d["steps"].append(
        {
            "id": "check",
            "type": "branch",
            "config": {"condition": {"type": "tag", "tag": "vip"}},
        }
    )
    d["steps"].append({"id": "vip_mail", "type": "email", "config": {"subject": "s", "body": "b"}})
    d["connections"].append({"source": "email_3", "target": "check"})
    d["connections"].append({"source": "check", "target": "vip_mail", "label": "true"})


def _bad_duration(d):
    d["steps"][1]["config"]["duration"] = "2 dayz"


CASES = {
    "unknown step type": (_unknown_type, "wait_2d", "type"),
    "dangling connection": (_dangling, "email_3", "target"),
    "branch missing a path": (_branch_missing_path, "check", None),
    "bad duration": (_bad_duration, "wait_2d", "duration"),
}


def count_rows() -> tuple[int, int, int]:
    return tuple(
        db.session.scalar(select(func.count()).select_from(model))
        for model in (Sequence, SequenceStep, SequenceConnection)
    )


@pytest.mark.parametrize("case", CASES)
def test_invalid_definitions_give_422_naming_step_and_field(api, case):
    mutate, step, field = CASES[case]
    response = api.post("/api/sequences", json=broken(mutate))
    assert response.status_code == 422, response.json
    error = response.json["error"]
    assert error["step"] == step, error
    if field:
        assert field in (error["field"] or ""), error
    assert error["message"]
    assert count_rows() == (0, 0, 0)


@pytest.mark.parametrize("case", CASES)
def test_invalid_patch_keeps_what_was_saved(api, case):
    created = api.post("/api/sequences", json=onboarding_definition()).json
    before = count_rows()
    mutate, step, _ = CASES[case]
    response = api.patch(f"/api/sequences/{created['id']}", json={"steps": None} | broken(mutate))
    assert response.status_code == 422
    assert response.json["error"]["step"] == step
    assert count_rows() == before
    again = api.get(f"/api/sequences/{created['id']}").json
    assert again["steps"] == created["steps"] and again["version"] == created["version"]


def test_requests_need_a_valid_token(app):
    client = app.test_client()
    assert client.get("/api/sequences").status_code == 401
    wrong = client.get("/api/sequences", headers={"Authorization": "Bearer pm_nope"})
    assert wrong.status_code == 401 and "not valid" in wrong.json["error"]["message"]


def test_a_body_that_is_not_json_is_a_400(api):
    response = api.client.post(
        "/api/sequences", data="nope", headers={**api._headers(), "Content-Type": "text/plain"}
    )
    assert response.status_code == 400


def test_another_workspaces_ids_give_404_everywhere(app, api):
    mine = api.post("/api/sequences", json=onboarding_definition()).json["id"]
    contact = api.post("/api/contacts", json={"email": "a@example.com"}).json["id"]
    other = api_for(app, "Globex")
    for path in (
        f"/api/sequences/{mine}",
        f"/api/sequences/{mine}/enrollments",
        f"/api/contacts/{contact}",
        "/api/sequences/not-a-uuid",
    ):
        assert other.get(path).status_code == 404, path
    for action in ("activate", "pause", "resume"):
        assert other.post(f"/api/sequences/{mine}/{action}").status_code == 404
    assert (
        other.post(f"/api/sequences/{mine}/enroll", json={"contact_ids": [contact]}).status_code
        == 404
    )
    assert other.patch(f"/api/sequences/{mine}", json={"name": "stolen"}).status_code == 404
    assert api.get(f"/api/sequences/{mine}").json["name"] == "New User Onboarding"
    # the other workspace cannot enroll our contact into its own sequence either
    theirs = other.post("/api/sequences", json=onboarding_definition()).json["id"]
    other.post(f"/api/sequences/{theirs}/activate")
    result = other.post(f"/api/sequences/{theirs}/enroll", json={"contact_ids": [contact]}).json
    assert (
        result["enrolled"] == 0
        and result["skipped_details"][0]["reason"] == "no contact with this id"
    )
