"""Pages, offsets and limits in query strings: a number the database cannot take, or no
number at all, is a 400 naming the parameter instead of a 500."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from app.services import accounts, segments
from tests.web.client import signed_in


@pytest.mark.parametrize(
    ("query", "field", "message"),
    [
        ("offset=99999999999999999999", "offset", "offset must be between 0 and 2147483647"),
        ("offset=-1", "offset", "offset must be between 0 and 2147483647"),
        ("limit=1001", "limit", "limit must be between 1 and 1000"),
        ("limit=ten", "limit", "limit must be a whole number"),
        ("offset=" + "9" * 5000, "offset", "offset must be between 0 and 2147483647"),
    ],
)
def test_an_absurd_enrollments_offset_or_limit_is_a_400_naming_it(api, query, field, message):
    created = api.post("/api/sequences", {"name": "S", "steps": [{"id": "e", "type": "end"}]})
    answer = api.get(f"/api/sequences/{created.json['id']}/enrollments?{query}")
    assert answer.status_code == 400
    assert answer.json["error"] == {"message": message, "field": field, "step": None}


def test_a_good_offset_still_pages(api):
    created = api.post("/api/sequences", {"name": "S", "steps": [{"id": "e", "type": "end"}]})
    answer = api.get(f"/api/sequences/{created.json['id']}/enrollments?offset=2147483647")
    assert answer.status_code == 200
    assert answer.json == {"enrollments": [], "next_offset": None}


@pytest.mark.parametrize("number", ["999999999999999999", "0", "two"])
def test_an_absurd_page_of_contacts_or_segment_members_is_a_400_page(app, number):
    web = signed_in(app, "Acme", "marketer@acme.test")
    workspace = accounts.workspace_named("Acme")
    segment = segments.create_segment(workspace, "VIP", "static", None, datetime.now(UTC))
    for path in (f"/contacts?page={number}", f"/segments/{segment.id}?page={number}"):
        answer = web.get(path)
        assert answer.status_code == 400, path
        assert answer.mimetype == "text/html"
        assert "page must be" in answer.text
    assert web.get(f"/segments/{segment.id}?page=3").status_code == 200
