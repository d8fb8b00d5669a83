"""PATCH /api/contacts/{id}: changes what it names and records each change as an event."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import func, select

from app.extensions import db
from app.models import ContactEvent
from app.services import contact_changes
from tests.conftest import api_for


def make_contact(api, **extra) -> dict:
    body = {
        "email": "ada@example.com",
        "first_name": "Ada",
        "fields": {"plan": "free", "size": 10, "flag": 1},
        **extra,
    }
    response = api.post("/api/contacts", json=body)
    assert response.status_code == 201, response.json
    return response.json


def changes() -> list[tuple[str, object, object]]:
    db.session.expire_all()
    found = db.session.scalars(select(ContactEvent).order_by(ContactEvent.id))
    out = []
    for event in found:
        assert (event.type, event.source) == ("field_changed", "api")
        out.append((event.properties["field"], event.properties["from"], event.properties["to"]))
    return out


def test_only_changed_values_are_recorded_with_from_and_to(api):
    contact = make_contact(api)
    before = datetime.now(UTC)
    response = api.patch(
        f"/api/contacts/{contact['id']}",
        json={
            "first_name": "Ada",
            "last_name": "Lovelace",
            "timezone": "Europe/London",
            "fields": {"plan": "pro", "size": 10, "flag": True, "company_size": 250},
        },
    )
    assert response.status_code == 200, response.json
    assert response.json == api.get(f"/api/contacts/{contact['id']}").json
    assert response.json["last_name"] == "Lovelace" and response.json["timezone"] == "Europe/London"
    assert response.json["fields"] == {"plan": "pro", "size": 10, "flag": True, "company_size": 250}
    assert sorted(changes()) == [  # one event per changed value, in no particular order
        ("company_size", None, 250),
        ("flag", 1, True),  # 1 and true are different JSON values
        ("last_name", None, "Lovelace"),
        ("plan", "free", "pro"),
        ("timezone", None, "Europe/London"),
    ]
    events = db.session.scalars(select(ContactEvent)).all()
    assert all(e.occurred_at == e.recorded_at >= before for e in events)
    assert {str(e.contact_id) for e in events} == {contact["id"]}


def test_patching_the_same_values_again_records_nothing(api):
    contact = make_contact(api)
    body = {"first_name": "Ada", "fields": {"plan": "free", "gone": None}, "tags": []}
    response = api.patch(f"/api/contacts/{contact['id']}", json=body)
    assert response.status_code == 200 and response.json["fields"] == contact["fields"]
    assert changes() == []


def test_a_null_field_removes_the_key(api):
    contact = make_contact(api)
    response = api.patch(f"/api/contacts/{contact['id']}", json={"fields": {"plan": None}})
    assert response.json["fields"] == {"size": 10, "flag": 1}
    assert changes() == [("plan", "free", None)]


def test_tags_are_replaced_and_names_cleared_with_null(api):
    contact = make_contact(api, tags=["old"])
    response = api.patch(
        f"/api/contacts/{contact['id']}", json={"tags": ["vip", "b2b", "vip"], "first_name": None}
    )
    assert response.json["tags"] == ["b2b", "vip"] and response.json["first_name"] is None
    assert changes() == [("first_name", "Ada", None)]  # tags are not field changes


def test_invalid_values_are_422_naming_the_field_and_change_nothing(api):
    contact = make_contact(api)
    path = f"/api/contacts/{contact['id']}"
    for body, field in [
        ({"timezone": "America/New_Yrok", "first_name": "Changed"}, "timezone"),
        ({"fields": ["plan"], "first_name": "Changed"}, "fields"),
        ({"tags": "vip"}, "tags"),
        ({"last_name": 7}, "last_name"),
        ({"email": "someone-else@example.com"}, "email"),
    ]:
        response = api.patch(path, json=body)
        assert response.status_code == 422, (body, response.json)
        assert response.json["error"]["field"] == field
    assert api.get(path).json == contact
    assert changes() == []
    assert api.patch(path, json={"email": "ada@EXAMPLE.com"}).status_code == 200  # same address


def test_another_workspaces_contact_is_404(app, api):
    contact = make_contact(api)
    other = api_for(app, "Globex")
    for path in (f"/api/contacts/{contact['id']}", "/api/contacts/not-a-uuid"):
        assert other.patch(path, json={"first_name": "Eve"}).status_code == 404
    assert api.get(f"/api/contacts/{contact['id']}").json["first_name"] == "Ada"
    assert changes() == []


def test_changes_wake_waits_with_the_recorded_events(api, monkeypatch):
    contact = make_contact(api)
    calls = []

    def record(workspace_id, events, now):
        found = [(e["type"], e["properties"], e["occurred_at"]) for e in events]
        calls.append((workspace_id, found, now))
        return 0

    monkeypatch.setattr(contact_changes, "wake_for_events", record)
    api.patch(f"/api/contacts/{contact['id']}", json={"fields": {"size": 11}})
    api.patch(f"/api/contacts/{contact['id']}", json={"fields": {"size": 11}})  # no change
    [(workspace_id, events, now)] = calls
    assert workspace_id == api.workspace_id
    assert events == [("field_changed", {"field": "size", "from": 10, "to": 11}, now)]


def test_patch_needs_a_token_and_a_json_object(app, api):
    contact = make_contact(api)
    path = f"/api/contacts/{contact['id']}"
    assert app.test_client().patch(path, json={"first_name": "Eve"}).status_code == 401
    assert api.patch(path, json=["first_name"]).status_code == 400
    assert db.session.scalar(select(func.count()).select_from(ContactEvent)) == 0


def test_post_on_an_existing_contact_records_its_changed_values_and_creating_records_none(api):
    make_contact(api)
    assert changes() == []
    body = {"email": "ada@example.com", "first_name": "Ada", "fields": {"plan": "pro", "size": 10}}
    response = api.post("/api/contacts", json=body)
    assert response.status_code == 200, response.json
    assert changes() == [("plan", "free", "pro")]
