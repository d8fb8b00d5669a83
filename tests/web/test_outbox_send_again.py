"""The outbox's "Send again" button: shown for `unknown` messages (their SMTP transaction
broke off), needs the CSRF token, requeues only the signed-in workspace's message (404 for
another's). Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from app.extensions import db
from app.models import OutboundMessage
from app.services import accounts
from tests.conftest import ApiClient
from tests.dropping_smtp import DroppingSmtpSink
from tests.engine.test_dispatcher import launch, single_email
from tests.helpers import THE_DAY_WRITTEN_FOR, tick
from tests.web.client import CSRF_INPUT, PASSWORD, Web

pytestmark = pytest.mark.wall_clock(THE_DAY_WRITTEN_FOR)

NOW = datetime(2026, 12, 7, 14, 0, tzinfo=UTC)


def workspace_with_unknown_message(app, name: str, user: str) -> tuple[Web, uuid.UUID]:
    """A workspace whose one message hit a server that hung up after DATA; its user signed in."""
    workspace = accounts.create_workspace(name)
    accounts.create_user(user, workspace, PASSWORD)
    api = ApiClient(app.test_client(), accounts.create_token(workspace), workspace.id)
    with DroppingSmtpSink() as sink:
        app.config["SMTP_URL"] = sink.url
        launch(api, single_email("Hi", "<p>x</p>"), [(f"reader@{name.lower()}.test", "R")])
        tick(app, NOW)
    [message] = api.get("/api/messages?status=unknown").json["messages"]
    web = Web(app)
    assert web.sign_in(user, PASSWORD).status_code == 302
    return web, uuid.UUID(message["id"])


def status(message_id: uuid.UUID) -> str:
    db.session.expire_all()
    return db.session.get_one(OutboundMessage, message_id).status


def test_an_unknown_message_has_a_send_again_button_that_queues_it(app):
    web, message_id = workspace_with_unknown_message(app, "Acme", "ops@acme.test")
    page = web.get("/outbox").text
    action = f"/outbox/{message_id}/send-again"
    assert f'action="{action}"' in page and "Send again" in page
    assert "may have accepted it" in page

    assert web.post(action, data={}).status_code == 400  # no CSRF token
    assert status(message_id) == "unknown"

    token = CSRF_INPUT.search(page).group(1)
    response = web.post(action, data={"csrf_token": token})
    assert response.status_code == 302 and response.headers["Location"] == "/outbox"
    assert status(message_id) == "queued"
    after = web.get("/outbox").text
    assert "Queued again" in after and f'action="{action}"' not in after


def test_send_again_on_another_workspaces_message_is_404(app):
    _, theirs = workspace_with_unknown_message(app, "Acme", "ops@acme.test")
    web, _ = workspace_with_unknown_message(app, "Other", "ops@other.test")
    token = web.csrf_token("/outbox")
    assert theirs.hex not in web.get("/outbox").text and str(theirs) not in web.get("/outbox").text
    response = web.post(f"/outbox/{theirs}/send-again", data={"csrf_token": token})
    assert response.status_code == 404
    assert status(theirs) == "unknown"
