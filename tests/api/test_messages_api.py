"""GET /api/messages and POST /api/messages/{id}/resend: a message whose SMTP transaction
broke off (a real server that hangs up after DATA) is listed as `unknown`, never resent on
its own, and sent again only when asked; other states answer 409, another workspace's 404.
Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from app.extensions import db
from app.models import OutboundMessage
from tests.conftest import api_for
from tests.dropping_smtp import DroppingSmtpSink
from tests.engine.test_dispatcher import launch, single_email
from tests.helpers import THE_DAY_WRITTEN_FOR, tick
from tests.smtp_sink import running_sink

pytestmark = pytest.mark.wall_clock(THE_DAY_WRITTEN_FOR)

NOW = datetime(2026, 12, 7, 14, 0, tzinfo=UTC)
PEOPLE = [("ada@example.com", "Ada"), ("bob@example.com", "Bob")]


def interrupted(app, api) -> list[dict]:
    """Two messages whose SMTP server hung up after their content: both `unknown`."""
    with DroppingSmtpSink() as sink:
        app.config["SMTP_URL"] = sink.url
        launch(api, single_email("Hi {{ contact.first_name }}", "<p>x</p>"), PEOPLE)
        tick(app, NOW)
        assert len(sink.wait_for(2)) == 2
    listed = api.get("/api/messages?status=unknown")
    assert listed.status_code == 200, listed.json
    return listed.json["messages"]


def test_an_unknown_message_is_listed_and_sent_again_only_when_asked(app, api):
    unknown = interrupted(app, api)
    assert sorted(m["to_email"] for m in unknown) == ["ada@example.com", "bob@example.com"]
    assert all("may have accepted it" in m["last_error"] for m in unknown)
    ada = next(m for m in unknown if m["to_email"] == "ada@example.com")

    for sink in running_sink():
        app.config["SMTP_URL"] = sink.url
        tick(app, NOW + timedelta(hours=1))
        assert sink.messages == [], "an unknown message was resent on its own"

        resent = api.post(f"/api/messages/{ada['id']}/resend")
        assert resent.status_code == 200, resent.json
        assert resent.json["status"] == "queued" and resent.json["last_error"] is None
        tick(app, NOW + timedelta(hours=2))

        assert [str(m["To"]) for m in sink.wait_for(1)] == ["Ada <ada@example.com>"]
    [sent] = api.get("/api/messages?status=sent").json["messages"]
    assert sent["id"] == ada["id"] and sent["accepted_at"] is not None
    assert [m["to_email"] for m in api.get("/api/messages?status=unknown").json["messages"]] == [
        "bob@example.com"
    ]


def test_a_message_that_is_not_unknown_or_failed_cannot_be_resent(app, api):
    unknown = interrupted(app, api)
    first = api.post(f"/api/messages/{unknown[0]['id']}/resend")
    assert first.status_code == 200
    again = api.post(f"/api/messages/{unknown[0]['id']}/resend")
    assert again.status_code == 409
    assert "unknown or failed" in again.json["error"]["message"]
    assert db.session.get_one(OutboundMessage, uuid.UUID(unknown[0]["id"])).status == "queued"


def test_another_workspaces_messages_are_neither_listed_nor_resendable(app, api):
    unknown = interrupted(app, api)
    other = api_for(app, "Other")
    assert other.get("/api/messages").json == {"messages": [], "next_cursor": None}
    for target in (unknown[0]["id"], str(uuid.uuid4()), "not-a-uuid"):
        response = other.post(f"/api/messages/{target}/resend")
        assert (
            response.status_code == 404 and response.json["error"]["message"] == "no such message"
        )
    assert db.session.get_one(OutboundMessage, uuid.UUID(unknown[0]["id"])).status == "unknown"


def test_messages_are_paged_and_a_bad_status_filter_names_the_field(app, api):
    interrupted(app, api)
    first = api.get("/api/messages?limit=1").json
    second = api.get(f"/api/messages?limit=1&cursor={first['next_cursor']}").json
    assert first["next_cursor"] and second["next_cursor"] is None
    assert {first["messages"][0]["id"], second["messages"][0]["id"]} == {
        m["id"] for m in api.get("/api/messages").json["messages"]
    }
    bad = api.get("/api/messages?status=lost")
    assert bad.status_code == 422 and bad.json["error"]["field"] == "status"


def test_messages_filter_like_the_outbox_and_a_bad_parameter_is_named(app, api):
    interrupted(app, api)
    ada = api.get("/api/messages?address=ADA@&status=unknown&failing=false").json["messages"]
    assert [m["to_email"] for m in ada] == ["ada@example.com"]
    sequence_id = ada[0]["sequence_id"]
    assert len(api.get(f"/api/messages?sequence={sequence_id}").json["messages"]) == 2
    assert api.get(f"/api/messages?step={uuid.uuid4()}").json["messages"] == []
    assert api.get("/api/messages?failing=true").json["messages"] == []
    for query, field in (
        ("cursor=nonsense", "cursor"),
        ("sequence=nope", "sequence"),
        ("failing=maybe", "failing"),
        ("address=" + "a" * 321, "address"),
    ):
        bad = api.get(f"/api/messages?{query}")
        assert bad.status_code == 422 and bad.json["error"]["field"] == field, query
