"""Publishing a new version of a live sequence through the API, end to end through `tick`
and a real SMTP server: the contacts in flight follow the migration plan, nobody is emailed
twice or left on a removed step, and the history keeps both definitions."""

from __future__ import annotations

import copy
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import ContactSequence, EnrollmentChange, SequenceStep
from app.services.processor import process_due
from tests.helpers import iso, onboarding_definition, tick

pytestmark = pytest.mark.local_time  # delays of days between the emails

OLD = ["Welcome to PenguinMails!", "3 things you can do today", "Become a pro user"]
NEW_SUBJECT = "Three things to try this week"
EARLY = ["ada@example.com", "grace@example.com"]  # reach the second delay before the change
LATE = ["kenji@example.com", "lin@example.com"]  # still in the first delay at the change


def enroll(api, seq_id: str, emails: list[str]) -> datetime:
    for email in emails:
        api.post("/api/contacts", json={"email": email, "first_name": email.split("@")[0]})
    answer = api.post(
        f"/api/sequences/{seq_id}/enroll", json={"contacts": [{"email": e} for e in emails]}
    )
    assert answer.json["enrolled"] == len(emails), answer.json
    rows = api.get(f"/api/sequences/{seq_id}/enrollments").json["enrollments"]
    return max(iso(r["next_execution_at"]) for r in rows)


def without_second_delay(live: dict[str, Any]) -> dict[str, Any]:
    """Email 2 gets a new subject; the 3-day delay goes and Email 2 leads to Email 3."""
    steps = [copy.deepcopy(s) for s in live["steps"] if s["id"] != "wait_3d"]
    for step in steps:
        if step["id"] == "email_2":
            step["config"] = {**step["config"], "subject": NEW_SUBJECT}
    connections = [c for c in live["connections"] if "wait_3d" not in (c["source"], c["target"])]
    connections.append({"source": "email_2", "target": "email_3", "label": None})
    return {"steps": steps, "connections": connections}


def subjects_by_recipient(sink) -> dict[str, list[str]]:
    got: dict[str, list[str]] = {}
    for message in sink.messages:
        got.setdefault(message["To"].addresses[0].addr_spec, []).append(str(message["Subject"]))
    return got


def live_sequence_with_contacts_in_both_delays(app, api) -> tuple[str, datetime, dict[str, Any]]:
    seq_id = api.post("/api/sequences", json=onboarding_definition()).json["id"]
    assert api.post(f"/api/sequences/{seq_id}/activate").status_code == 200
    t0 = enroll(api, seq_id, EARLY)
    tick(app, t0)
    t1 = t0 + timedelta(days=2)
    enroll(api, seq_id, LATE)
    tick(app, t1)  # EARLY get Email 2 and wait 3 days; LATE get Email 1 and wait 2 days
    return seq_id, t1, api.get(f"/api/sequences/{seq_id}").json


def test_a_patch_removing_a_step_with_contacts_without_migrate_is_refused_and_changes_nothing(
    app, api, smtp_sink
):
    seq_id, _, before = live_sequence_with_contacts_in_both_delays(app, api)
    refused = api.patch(f"/api/sequences/{seq_id}", json=without_second_delay(before))
    assert refused.status_code == 422
    error = refused.json["error"]
    assert error["field"] == "migrate.wait_3d" and error["step"] == "wait_3d"
    assert "2 contact(s) are on 'Wait 3 days' (wait_3d)" in error["message"]
    assert error["removed_steps"] == [
        {"step": "wait_3d", "name": "Wait 3 days", "contacts": 2, "choice": None}
    ]
    assert api.get(f"/api/sequences/{seq_id}").json == before
    assert len(api.get(f"/api/sequences/{seq_id}/versions").json["versions"]) == 1
    assert db.session.scalar(select(EnrollmentChange.id)) is None


def test_a_published_patch_moves_the_contacts_in_flight_and_each_gets_each_email_once(
    app, api, smtp_sink
):
    seq_id, t1, v1 = live_sequence_with_contacts_in_both_delays(app, api)
    change = {**without_second_delay(v1), "migrate": {"wait_3d": "email_3"}, "note": "shorter"}
    published = api.patch(f"/api/sequences/{seq_id}", json=change)
    assert published.status_code == 200, published.json
    assert published.json["version"] == 2
    assert published.json["published"]["note"] == "shorter"
    moved = {e["step"]: e for e in published.json["published"]["migration"]}
    assert moved["wait_3d"]["action"] == "move" and moved["wait_3d"]["contacts"] == 2
    assert moved["wait_2d"]["action"] == "keep" and moved["wait_2d"]["contacts"] == 2
    v2 = api.get(f"/api/sequences/{seq_id}").json

    tick(app, t1 + timedelta(minutes=1))  # the moved contacts get Email 3 now
    tick(app, t1 + timedelta(days=2, minutes=1))  # the others get the new Email 2, then Email 3
    tick(app, t1 + timedelta(days=10))

    got = subjects_by_recipient(smtp_sink)
    assert {email: got[email] for email in EARLY} == {email: OLD for email in EARLY}
    assert {email: sorted(got[email]) for email in LATE} == {
        email: sorted([OLD[0], NEW_SUBJECT, OLD[2]]) for email in LATE
    }
    assert len({m["Message-ID"] for m in smtp_sink.messages}) == len(smtp_sink.messages) == 12

    runs = api.get(f"/api/sequences/{seq_id}/enrollments").json["enrollments"]
    assert {(r["email"], r["status"], r["version"]) for r in runs} == {
        (email, "completed", 2) for email in EARLY + LATE
    }
    retired = select(SequenceStep.id).where(SequenceStep.retired_in.is_not(None))
    on_retired = select(ContactSequence.id).where(ContactSequence.current_step_id.in_(retired))
    assert db.session.scalars(on_retired).all() == []
    history = db.session.execute(
        select(EnrollmentChange.action, EnrollmentChange.from_step, EnrollmentChange.to_step)
    ).all()
    assert (
        sorted(history)
        == [("keep", "wait_2d", "wait_2d")] * 2 + [("move", "wait_3d", "email_3")] * 2
    )

    versions = api.get(f"/api/sequences/{seq_id}/versions").json
    assert versions["live"] == 2 and [v["version"] for v in versions["versions"]] == [2, 1]
    for number, document in ((1, v1), (2, v2)):
        stored = api.get(f"/api/sequences/{seq_id}/versions/{number}").json["definition"]
        assert stored == {k: v for k, v in document.items() if k not in ("id", "status", "version")}
    diff = api.get(f"/api/sequences/{seq_id}/versions/1/diff/2").json
    assert {(s["id"], s["status"]) for s in diff["steps"]} == {
        ("email_2", "changed"),
        ("wait_3d", "removed"),
    }


def test_contacts_told_to_stay_finish_on_the_version_they_started(app, api, smtp_sink):
    seq_id, t1, v1 = live_sequence_with_contacts_in_both_delays(app, api)
    change = {**without_second_delay(v1), "migrate": {"wait_3d": "stay"}}
    assert api.patch(f"/api/sequences/{seq_id}", json=change).status_code == 200

    tick(app, t1 + timedelta(days=3) - timedelta(seconds=1))
    got = subjects_by_recipient(smtp_sink)
    assert {email: got[email] for email in EARLY} == {email: OLD[:2] for email in EARLY}
    assert {email: sorted(got[email]) for email in LATE} == {  # the new Email 2, no delay
        email: sorted([OLD[0], NEW_SUBJECT, OLD[2]]) for email in LATE
    }
    tick(app, t1 + timedelta(days=3, minutes=1))  # EARLY finish their old 3-day wait
    got = subjects_by_recipient(smtp_sink)
    assert {email: got[email] for email in EARLY} == {email: OLD for email in EARLY}
    runs = {
        r["email"]: r for r in api.get(f"/api/sequences/{seq_id}/enrollments").json["enrollments"]
    }
    assert {runs[e]["version"] for e in EARLY} == {1} and {runs[e]["version"] for e in LATE} == {2}
    assert {r["status"] for r in runs.values()} == {"completed"}


def test_contacts_told_to_exit_leave_with_the_reason_and_get_nothing_more(app, api, smtp_sink):
    seq_id, t1, v1 = live_sequence_with_contacts_in_both_delays(app, api)
    change = {**without_second_delay(v1), "migrate": {"wait_3d": "exit"}}
    assert api.patch(f"/api/sequences/{seq_id}", json=change).status_code == 200
    tick(app, t1 + timedelta(days=10))
    got = subjects_by_recipient(smtp_sink)
    assert {email: got[email] for email in EARLY} == {email: OLD[:2] for email in EARLY}
    runs = {
        r["email"]: r for r in api.get(f"/api/sequences/{seq_id}/enrollments").json["enrollments"]
    }
    assert {runs[e]["exit_reason"] for e in EARLY} == {
        "'Wait 3 days' (wait_3d) was removed in version 2"
    }


def test_an_email_queued_before_a_publish_is_sent_as_it_was_queued(app, api, smtp_sink):
    seq_id = api.post("/api/sequences", json=onboarding_definition()).json["id"]
    api.post(f"/api/sequences/{seq_id}/activate")
    t0 = enroll(api, seq_id, LATE)
    process_due(t0)  # Email 1 is queued, not sent yet
    live = api.get(f"/api/sequences/{seq_id}").json
    for step in live["steps"]:
        if step["id"] == "email_1":
            step["config"]["subject"] = "A new welcome"
    api.patch(f"/api/sequences/{seq_id}", json={"steps": live["steps"]})
    tick(app, t0)
    assert sorted(set(subjects_by_recipient(smtp_sink)[e][0] for e in LATE)) == [OLD[0]]
