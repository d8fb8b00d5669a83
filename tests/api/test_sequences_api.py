"""The sequence and contact endpoints do what they say."""

from __future__ import annotations

from tests.helpers import onboarding_definition


def test_create_get_round_trips_the_definition_with_ids_and_positions(api):
    definition = onboarding_definition()
    created = api.post("/api/sequences", json=definition)
    assert created.status_code == 201
    body = api.get(f"/api/sequences/{created.json['id']}").json
    assert body["status"] == "draft" and body["version"] == 1
    assert [s["id"] for s in body["steps"]] == [s["id"] for s in definition["steps"]]
    assert body["steps"][0]["position"] == {"x": 80, "y": 120}
    assert body["connections"][0] == {"source": "email_1", "target": "wait_2d", "label": None}
    assert body["trigger"] == {"type": "segment_join", "segment": "New Signups"}


def test_patch_replaces_settings_bumps_the_version_and_checks_it(api):
    seq = api.post("/api/sequences", json=onboarding_definition()).json
    changed = api.patch(f"/api/sequences/{seq['id']}", json={"name": "Onboarding v2", "version": 1})
    assert changed.status_code == 200
    assert changed.json["name"] == "Onboarding v2" and changed.json["version"] == 2
    stale = api.patch(f"/api/sequences/{seq['id']}", json={"name": "Lost update", "version": 1})
    assert stale.status_code == 409 and stale.json["error"]["field"] == "version"
    assert api.get(f"/api/sequences/{seq['id']}").json["name"] == "Onboarding v2"


def test_get_output_can_be_patched_back_unchanged(api):
    seq = api.post("/api/sequences", json=onboarding_definition()).json
    again = api.patch(f"/api/sequences/{seq['id']}", json=seq)
    assert again.status_code == 200, again.json
    assert again.json["steps"] == seq["steps"]


def test_status_changes_follow_the_lifecycle(api):
    seq_id = api.post("/api/sequences", json=onboarding_definition()).json["id"]
    assert api.post(f"/api/sequences/{seq_id}/pause").status_code == 409
    assert api.post(f"/api/sequences/{seq_id}/activate").json["status"] == "active"
    assert api.post(f"/api/sequences/{seq_id}/pause").json["status"] == "paused"
    assert api.post(f"/api/sequences/{seq_id}/resume").json["status"] == "active"


def test_activation_accepts_an_email_with_ab_variants_and_a_test(api):
    definition = onboarding_definition()
    first = definition["steps"][0]
    first["config"]["variants"] = [{"key": "A", "weight": 50}, {"key": "B", "weight": 50}]
    first["config"]["ab_test"] = {"metric": "click_rate", "pick_winner_after": 100}
    seq_id = api.post("/api/sequences", json=definition).json["id"]
    activated = api.post(f"/api/sequences/{seq_id}/activate")
    assert activated.status_code == 200, activated.json
    assert api.get(f"/api/sequences/{seq_id}").json["status"] == "active"


def test_contacts_are_created_then_updated_by_email(api):
    first = api.post("/api/contacts", json={"email": "Ada@Example.com", "first_name": "Ada"})
    assert first.status_code == 201
    again = api.post(
        "/api/contacts",
        json={"email": "Ada@example.com", "timezone": "Europe/London", "fields": {"plan": "pro"}},
    )
    assert again.status_code == 200 and again.json["id"] == first.json["id"]
    got = api.get(f"/api/contacts/{first.json['id']}").json
    assert got["first_name"] == "Ada" and got["timezone"] == "Europe/London"
    assert got["fields"] == {"plan": "pro"}
    bad = api.post("/api/contacts", json={"email": "x@example.com", "timezone": "America/New_Yrok"})
    assert bad.status_code == 422 and bad.json["error"]["field"] == "timezone"


def test_enroll_counts_enrolled_and_skipped_with_reasons(api):
    seq_id = api.post("/api/sequences", json=onboarding_definition()).json["id"]
    api.post("/api/contacts", json={"email": "a@example.com"})
    draft = api.post(
        f"/api/sequences/{seq_id}/enroll", json={"contacts": [{"email": "a@example.com"}]}
    )
    assert draft.json["enrolled"] == 0 and "activate" in draft.json["skipped_details"][0]["reason"]
    api.post(f"/api/sequences/{seq_id}/activate")
    body = {"contacts": [{"email": "a@example.com"}, {"email": "ghost@example.com"}]}
    result = api.post(f"/api/sequences/{seq_id}/enroll", json=body).json
    assert result["enrolled"] == 1 and result["skipped"] == 1
    assert result["skipped_details"][0] == {
        "email": "ghost@example.com",
        "reason": "no contact with this email",
    }
    twice = api.post(f"/api/sequences/{seq_id}/enroll", json=body).json
    assert twice["enrolled"] == 0
    assert "already enrolled" in twice["skipped_details"][1]["reason"]
    rows = api.get(f"/api/sequences/{seq_id}/enrollments").json["enrollments"]
    assert len(rows) == 1 and rows[0]["status"] == "active" and rows[0]["current_step"] == "email_1"


def test_enrollments_are_paged(api):
    seq_id = api.post("/api/sequences", json=onboarding_definition()).json["id"]
    api.post(f"/api/sequences/{seq_id}/activate")
    emails = [f"p{i}@example.com" for i in range(5)]
    for email in emails:
        api.post("/api/contacts", json={"email": email})
    api.post(f"/api/sequences/{seq_id}/enroll", json={"contacts": [{"email": e} for e in emails]})
    first = api.get(f"/api/sequences/{seq_id}/enrollments?limit=2").json
    assert len(first["enrollments"]) == 2 and first["next_offset"] == 2
    seen = [r["email"] for r in first["enrollments"]]
    offset = first["next_offset"]
    while offset is not None:
        page = api.get(f"/api/sequences/{seq_id}/enrollments?limit=2&offset={offset}").json
        seen += [r["email"] for r in page["enrollments"]]
        offset = page["next_offset"]
    assert sorted(seen) == emails
    bad = api.get(f"/api/sequences/{seq_id}/enrollments?limit=5000")
    assert bad.status_code == 400 and bad.json["error"]["field"] == "limit"
