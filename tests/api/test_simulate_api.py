"""POST /api/sequences/{id}/simulate: the timeline as JSON, 422 naming the bad field, 404
for another workspace's sequence, bounded requests, and nothing written."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import ContactSequence, OutboundMessage
from tests.conftest import api_for
from tests.helpers import onboarding_definition


@pytest.fixture
def sequence_id(api) -> str:
    created = api.post("/api/sequences", json=onboarding_definition())
    assert created.status_code == 201, created.get_json()
    return created.get_json()["id"]


def simulate(api, sequence_id: str, body: dict) -> object:
    return api.post(f"/api/sequences/{sequence_id}/simulate", json=body)


BODY = {
    "contact": {"first_name": "Ada", "timezone": "America/New_York"},
    "start": "2026-12-03T20:30:00-05:00",
}


def test_a_simulation_answers_the_timeline_with_local_times_and_writes_nothing(api, sequence_id):
    answer = simulate(api, sequence_id, BODY)
    assert answer.status_code == 200, answer.get_json()
    timeline = answer.get_json()["timeline"]
    first = timeline[0]
    assert first["at"] == "2026-12-04T01:30:00Z"
    assert first["local"] == "2026-12-03T20:30:00-05:00"
    assert first["action"] == "queued email" and first["type"] == "email"
    assert set(first) == {"at", "local", "step", "type", "action", "detail"}
    assert timeline[-1]["type"] == "sequence"
    assert db.session.scalar(select(func.count()).select_from(ContactSequence)) == 0
    assert db.session.scalar(select(func.count()).select_from(OutboundMessage)) == 0


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"version": "1"}, "version"),
        ({"start": "2026-12-03T20:30:00"}, "start"),
        ({"start": "tomorrow"}, "start"),
        ({"contact": {"timezone": "Mars/Base"}}, "contact.timezone"),
        ({"contact": {"tags": "vip"}}, "contact.tags"),
        ({"events": {}}, "events"),
        ({"events": [{"at": "2026-12-01T00:00:00Z", "event": "opened"}]}, "events[0].at"),
        ({"events": [{"at": "2026-12-05T00:00:00Z", "event": "bounced"}]}, "events[0].event"),
        ({"events": [{"at": "2026-12-05T00:00:00Z", "event": ""}]}, "events[0].event"),
        (
            {"events": [{"at": "2026-12-05T00:00:00Z", "event": "field_changed"}]},
            "events[0].properties.field",
        ),
        (
            {
                "events": [
                    {
                        "at": "2026-12-05T00:00:00Z",
                        "event": "opened",
                        "properties": {"email_step_id": "nope"},
                    }
                ]
            },
            "events[0].properties.email_step_id",
        ),
        ({"events": [{"at": "2029-12-05T00:00:00Z", "event": "x"}]}, "events[0].at"),
        ({"surprise": 1}, "surprise"),
    ],
)
def test_a_bad_request_is_refused_with_422_naming_the_field(api, sequence_id, change, field):
    answer = simulate(api, sequence_id, {**BODY, **change})
    assert answer.status_code == 422, answer.get_json()
    assert answer.get_json()["error"]["field"] == field


def test_a_version_that_was_never_published_is_refused_by_name(api, sequence_id):
    answer = simulate(api, sequence_id, {**BODY, "version": 9})
    assert answer.status_code == 422
    assert answer.get_json()["error"] == {
        "message": "no version 9 of this sequence",
        "field": "version",
        "step": None,
    }


def test_more_events_than_the_limit_are_refused(api, sequence_id):
    event = {"at": "2026-12-05T00:00:00Z", "event": "user_login"}
    answer = simulate(api, sequence_id, {**BODY, "events": [event] * 101})
    assert answer.status_code == 422
    assert answer.get_json()["error"]["field"] == "events"


def test_another_workspaces_sequence_answers_404(app, api, sequence_id):
    other = api_for(app, "Other")
    assert simulate(other, sequence_id, BODY).status_code == 404
    assert simulate(api, "not-a-uuid", BODY).status_code == 404


def test_a_body_that_is_not_an_object_answers_400(api, sequence_id):
    assert simulate(api, sequence_id, ["x"]).status_code == 400


def test_a_published_version_is_simulated_as_its_snapshot_has_it(api, sequence_id):
    api.post(f"/api/sequences/{sequence_id}/activate")
    live = api.get(f"/api/sequences/{sequence_id}").get_json()
    steps = live["steps"]
    steps[0]["config"]["subject"] = "A new welcome"
    assert api.patch(f"/api/sequences/{sequence_id}", json={"steps": steps}).status_code == 200

    def first_subject(extra: dict) -> str:
        timeline = simulate(api, sequence_id, {**BODY, **extra}).get_json()["timeline"]
        return next(line["detail"] for line in timeline if line["type"] == "email")

    assert "A new welcome" in first_subject({})
    assert "Welcome to PenguinMails!" in first_subject({"version": 1})
    assert "A new welcome" in first_subject({"version": 2})
