"""Steering an email step's A/B test through the API: pick the winner, stop the test."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from app.extensions import db
from app.models import AbTestDecision, OutboundMessage
from tests.conftest import api_for
from tests.helpers import onboarding_definition, tick

VARIANTS = [
    {"key": "A", "weight": 50, "subject": "Subject A"},
    {"key": "B", "weight": 50, "subject": "Subject B", "from_name": "Ann from B"},
]


def ab_definition() -> dict[str, Any]:
    definition = onboarding_definition()
    definition["steps"][0]["config"] |= {
        "variants": VARIANTS,
        "ab_test": {"metric": "click_rate", "min_sends": 200},
    }
    return definition


def active_test(api) -> str:
    sequence_id = api.post("/api/sequences", json=ab_definition()).json["id"]
    activated = api.post(f"/api/sequences/{sequence_id}/activate")
    assert activated.status_code == 200, activated.json
    return sequence_id


def test_picking_a_winner_answers_the_decision_and_records_who_picked_it(app, api):
    sequence_id = active_test(api)
    answer = api.post(f"/api/sequences/{sequence_id}/steps/email_1/winner", json={"variant": "B"})
    assert answer.status_code == 200, answer.json
    body = answer.json
    assert (body["step"], body["state"], body["winner"]) == ("email_1", "decided", "B")
    assert (body["metric"], body["decided_by"]) == ("click_rate", "hand")
    assert body["actor"].startswith("API token 'API token' (pm_")
    assert datetime.fromisoformat(body["decided_at"]).tzinfo is not None
    assert [v["key"] for v in body["figures"]["variants"]] == ["A", "B"]
    row = db.session.scalars(select(AbTestDecision)).one()
    assert (row.state, row.winner, row.actor) == ("decided", "B", body["actor"])


def test_after_a_winner_is_picked_every_new_send_uses_it(app, api):
    sequence_id = active_test(api)
    api.post(f"/api/sequences/{sequence_id}/steps/email_1/winner", json={"variant": "B"})
    contacts = [{"email": f"c{n}@example.test"} for n in range(8)]
    for contact in contacts:
        assert api.post("/api/contacts", json=contact).status_code == 201
    enrolled = api.post(f"/api/sequences/{sequence_id}/enroll", json={"contacts": contacts})
    assert enrolled.json["enrolled"] == 8, enrolled.json
    tick(app, datetime.now(UTC))
    sent = db.session.execute(select(OutboundMessage.variant_key, OutboundMessage.subject)).all()
    assert sorted(sent) == [("B", "Subject B")] * 8


def test_stopping_a_test_leaves_no_winner_and_a_winner_may_still_be_picked(app, api):
    sequence_id = active_test(api)
    stopped = api.post(f"/api/sequences/{sequence_id}/steps/email_1/ab-test/stop")
    assert stopped.status_code == 200, stopped.json
    assert (stopped.json["state"], stopped.json["winner"]) == ("stopped", None)
    picked = api.post(f"/api/sequences/{sequence_id}/steps/email_1/winner", json={"variant": "A"})
    assert (picked.json["state"], picked.json["winner"]) == ("decided", "A")
    rows = db.session.execute(select(AbTestDecision.state, AbTestDecision.winner)).all()
    assert rows == [("decided", "A")]


def test_an_unknown_variant_is_a_422_naming_the_step_and_the_variants(app, api):
    sequence_id = active_test(api)
    answer = api.post(f"/api/sequences/{sequence_id}/steps/email_1/winner", json={"variant": "C"})
    assert answer.status_code == 422
    error = answer.json["error"]
    assert (error["field"], error["step"]) == ("variant", "email_1")
    assert "'C'" in error["message"] and "'A', 'B'" in error["message"]
    assert db.session.scalars(select(AbTestDecision)).all() == []


def test_an_overlong_variant_is_a_422_that_does_not_echo_it(app, api):
    sequence_id = active_test(api)
    answer = api.post(
        f"/api/sequences/{sequence_id}/steps/email_1/winner", json={"variant": "B" * 50_000}
    )
    assert answer.status_code == 422
    error = answer.get_json()["error"]
    assert (error["field"], error["step"]) == ("variant", "email_1")
    assert "at most 32 characters" in error["message"] and len(error["message"]) < 200
    assert db.session.scalars(select(AbTestDecision)).all() == []


def test_a_missing_or_blank_variant_is_a_422_and_a_body_that_is_no_object_a_400(app, api):
    sequence_id = active_test(api)
    url = f"/api/sequences/{sequence_id}/steps/email_1/winner"
    for body in ({}, {"variant": ""}, {"variant": 2}):
        answer = api.post(url, json=body)
        assert answer.status_code == 422, body
        assert answer.json["error"]["field"] == "variant"
    assert api.post(url, json=["B"]).status_code == 400
    assert db.session.scalars(select(AbTestDecision)).all() == []


def test_an_unknown_step_or_a_step_without_a_test_is_a_422_naming_the_step(app, api):
    sequence_id = active_test(api)
    base = f"/api/sequences/{sequence_id}/steps"
    unknown = api.post(f"{base}/email_9/winner", json={"variant": "A"})
    assert unknown.status_code == 422
    assert (unknown.json["error"]["field"], unknown.json["error"]["step"]) == ("step_id", "email_9")
    for path in ("email_2/winner", "wait_2d/ab-test/stop"):
        untested = api.post(f"{base}/{path}", json={"variant": "A"})
        assert untested.status_code == 422, path
        error = untested.json["error"]
        assert error["field"] == "config.ab_test" and error["step"] == path.split("/")[0]
        assert "has no A/B test" in error["message"]


def test_another_workspaces_sequence_answers_404_and_changes_nothing(app, api):
    sequence_id = active_test(api)
    other = api_for(app, "Globex")
    for path, body in (("winner", {"variant": "A"}), ("ab-test/stop", None)):
        answer = other.post(f"/api/sequences/{sequence_id}/steps/email_1/{path}", json=body)
        assert answer.status_code == 404, path
    missing = api.post("/api/sequences/not-an-id/steps/email_1/ab-test/stop")
    assert missing.status_code == 404
    assert db.session.scalars(select(AbTestDecision)).all() == []


def test_a_conversion_test_on_a_goal_the_sequence_lacks_is_a_422_naming_step_and_field(app, api):
    definition = ab_definition()
    definition["steps"][0]["config"]["ab_test"] = {"metric": "conversion_rate", "goal": "Renewed"}
    answer = api.post("/api/sequences", json=definition)
    assert answer.status_code == 422
    error = answer.json["error"]
    assert (error["step"], error["field"]) == ("email_1", "config.ab_test.goal")
    assert "'Renewed'" in error["message"]
