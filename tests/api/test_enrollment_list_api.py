"""`GET /api/enrollments`: the enrollments list's filter as query parameters, pages by
cursor, 422 naming a bad parameter, never another workspace's rows."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from app.services import accounts
from tests.conftest import api_for
from tests.enrollment_rows import enroll_many, seed_sequences

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


def every_page(api, query: str) -> list[list[dict]]:
    pages, cursor = [], None
    while True:
        answer = api.get(f"/api/enrollments?{query}" + (f"&cursor={cursor}" if cursor else ""))
        assert answer.status_code == 200, answer.json
        pages.append(answer.json["enrollments"])
        cursor = answer.json["next_cursor"]
        if cursor is None:
            return pages


def test_cursor_pages_list_every_matching_enrollment_once(app, api):
    seeded = seed_sequences(accounts.workspace_named("Acme"), 3)
    ids = enroll_many(seeded, 450, NOW, same_time=True)
    pages = every_page(api, "limit=200")
    assert [len(p) for p in pages] == [200, 200, 50]
    listed = [row["id"] for page in pages for row in page]
    assert sorted(listed) == sorted(str(i) for i in ids)

    sequence = seeded.sequences[0]
    first = api.get(f"/api/enrollments?sequence_id={sequence.id}&status=active&limit=10").json
    assert first["count"] == 450 // 6  # n % 3 == 0 and active (n % 6 in 0, 1): n % 6 == 0
    assert len(first["enrollments"]) == 10 and first["next_cursor"]
    assert {row["status"] for row in first["enrollments"]} == {"active"}
    row = first["enrollments"][0]
    assert row["email"].endswith("@x.test") and row["current_step_name"] and row["version"]
    assert row["earlier_runs"] == []


def test_the_default_page_is_50_and_the_contact_search_filters(app, api):
    seeded = seed_sequences(accounts.workspace_named("Acme"), 1)
    enroll_many(seeded, 60, NOW)
    answer = api.get("/api/enrollments").json
    assert len(answer["enrollments"]) == 50 and answer["count"] == 60
    found = api.get("/api/enrollments?contact=n42@").json
    assert [r["email"] for r in found["enrollments"]] == ["n42@x.test"]
    assert found["next_cursor"] is None and found["count"] == 1


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("limit=0", "limit"),
        ("limit=201", "limit"),
        ("status=asleep", "status"),
        ("sequence_id=12", "sequence_id"),
        ("ended_after=soon", "ended_after"),
        ("stuck=perhaps", "stuck"),
        ("cursor=abc", "cursor"),
    ],
)
def test_a_bad_parameter_is_422_naming_it(app, api, query, field):
    answer = api.get(f"/api/enrollments?{query}")
    assert answer.status_code == 422
    assert answer.json["error"]["field"] == field


def test_another_workspaces_enrollments_are_never_listed(app, api):
    mine = seed_sequences(accounts.workspace_named("Acme"), 1)
    my_ids = enroll_many(mine, 5, NOW)
    other = api_for(app, "Globex")
    theirs = seed_sequences(accounts.workspace_named("Globex"), 1, prefix="Theirs")
    enroll_many(theirs, 7, NOW, domain="globex.test")

    listed = api.get("/api/enrollments?limit=200").json
    assert sorted(r["id"] for r in listed["enrollments"]) == sorted(str(i) for i in my_ids)
    assert listed["count"] == 5
    their_sequence = theirs.sequences[0].id
    refused = api.get(f"/api/enrollments?sequence_id={their_sequence}")
    assert refused.status_code == 404 and refused.json["error"]["field"] == "sequence_id"
    their_step = theirs.steps[their_sequence][0]
    assert api.get(f"/api/enrollments?step={their_step}").status_code == 404
    assert other.get("/api/enrollments").json["count"] == 7
