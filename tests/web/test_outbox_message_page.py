"""The outbox's message page and its buttons: the headers as the server received them
(rebuilt by the dispatcher's own builder), the body untracked in a sandboxed frame, the
text part, every attempt with the server's answer; cancel (CSRF, guarded: never sent after,
never under a dispatcher), retry, and 404 for another workspace's message. Runs on SQLite
and PostgreSQL."""

from __future__ import annotations

import html
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from markupsafe import escape
from sqlalchemy import select

from app.extensions import db
from app.models import OutboundMessage
from app.services import accounts
from app.services.processor import process_due
from tests.conftest import ApiClient
from tests.engine.test_dispatcher import launch, single_email
from tests.helpers import THE_DAY_WRITTEN_FOR, tick
from tests.web.client import CSRF_INPUT, PASSWORD, Web

pytestmark = pytest.mark.wall_clock(THE_DAY_WRITTEN_FOR)

NOW = datetime(2026, 12, 7, 14, 0, tzinfo=UTC)
EVIL = "<script>alert('x')</script>"


def workspace(app, name: str) -> tuple[Web, ApiClient]:
    """A workspace with its operator signed in, and its API client."""
    found = accounts.create_workspace(name)
    user = f"ops@{name.lower()}.test"
    accounts.create_user(user, found, PASSWORD)
    api = ApiClient(app.test_client(), accounts.create_token(found), found.id)
    web = Web(app)
    assert web.sign_in(user, PASSWORD).status_code == 302
    return web, api


def the_message() -> OutboundMessage:
    db.session.expire_all()
    return db.session.scalars(select(OutboundMessage)).one()


def test_a_sent_message_shows_the_headers_the_server_received_its_body_and_attempt(app, smtp_sink):
    web, api = workspace(app, "Acme")
    body = '<p>Hi {{ contact.first_name }}, <a href="https://example.com/book">book</a></p>'
    launch(api, single_email("Hello {{ contact.first_name }}", body), [("ada@x.test", EVIL)])
    tick(app, NOW)
    [received] = smtp_sink.wait_for(1)
    message = the_message()
    assert "/t/c/" in message.html and "/t/o/" in message.html  # tracked as sent

    page = web.get(f"/outbox/{message.id}").text

    for name in ("To", "From", "Subject", "Date", "Message-ID", "List-Unsubscribe", "List-Id"):
        assert (
            f'<th scope="row">{name}</th><td><code>{escape(str(received[name]))}</code>' in page
        ), name
    assert "List-Unsubscribe-Post" in page
    assert "2.0.0 Message accepted" in page and "<code>250</code>" in page
    assert f'href="/enrollments/{message.enrollment_id}"' in page
    assert 'sandbox="" referrerpolicy="no-referrer" srcdoc="' in page
    assert "https://example.com/book" in page
    assert "/t/c/" not in page and "/t/o/" not in page  # reading it records no click or open
    assert "<script" not in page.lower() and "&lt;script&gt;alert(" in page
    assert message.text.split("\n")[0] in html.unescape(page)


def test_a_queued_message_shows_the_headers_it_would_be_sent_with(app):
    web, api = workspace(app, "Acme")
    launch(api, single_email("Soon {{ contact.first_name }}", "<p>x</p>"), [("ada@x.test", "Ada")])
    process_due(NOW)
    message = the_message()
    page = web.get(f"/outbox/{message.id}").text
    assert "As they would be sent" in page and "Soon Ada" in page
    assert f"<code>{escape(message.message_id)}</code>" in page
    assert "No attempt yet." in page and "Cancel this email" in page and "Retry" not in page


def test_a_cancelled_queued_message_is_never_delivered_and_names_who_cancelled(app, smtp_sink):
    web, api = workspace(app, "Acme")
    launch(api, single_email("Hi", "<p>x</p>"), [("ada@x.test", "Ada")])
    process_due(NOW)
    message = the_message()
    path = f"/outbox/{message.id}"
    token = CSRF_INPUT.search(web.get(path).text).group(1)

    assert web.post(f"{path}/cancel", data={}).status_code == 400  # no CSRF token
    assert the_message().status == "queued"
    response = web.post(f"{path}/cancel", data={"csrf_token": token})
    assert response.status_code == 302 and response.headers["Location"] == path

    cancelled = the_message()
    assert (cancelled.status, cancelled.last_error) == ("cancelled", "cancelled by ops@acme.test")
    tick(app, NOW + timedelta(hours=1))
    assert smtp_sink.messages == [] and the_message().status == "cancelled"
    page = web.get(path).text
    assert "Cancelled: it will not be sent." in page and "cancelled by ops@acme.test" in page
    assert ">Retry</button>" not in page and "Cancel this email" not in page  # final


def test_a_message_being_sent_cannot_be_cancelled(app):
    web, api = workspace(app, "Acme")
    launch(api, single_email("Hi", "<p>x</p>"), [("ada@x.test", "Ada")])
    process_due(NOW)
    message = the_message()
    token = web.csrf_token(f"/outbox/{message.id}")
    message.status = "sending"
    db.session.commit()
    response = web.post(f"/outbox/{message.id}/cancel", data={"csrf_token": token})
    assert response.status_code == 302
    assert the_message().status == "sending"
    assert "Only a queued message can be cancelled" in web.get(f"/outbox/{message.id}").text


def test_a_failed_message_is_retried_from_its_page_and_sent(app, smtp_sink):
    web, api = workspace(app, "Acme")
    smtp_sink.reject("ada@x.test", code=550, text="5.1.1 No such user")
    launch(api, single_email("Hi", "<p>x</p>"), [("ada@x.test", "Ada")])
    tick(app, NOW)
    message = the_message()
    path = f"/outbox/{message.id}"
    page = web.get(path).text
    assert "<code>550</code> 5.1.1 No such user" in page and "Cancel this email" not in page
    token = CSRF_INPUT.search(page).group(1)
    smtp_sink.allow("ada@x.test")
    response = web.post(f"{path}/send-again", data={"csrf_token": token, "next": path})
    assert response.status_code == 302 and response.headers["Location"] == path
    tick(app, NOW + timedelta(minutes=1))
    assert len(smtp_sink.wait_for(1)) == 1 and the_message().status == "sent"
    assert web.get(path).text.count("<td>1</td>") == 2  # two attempts, both numbered 1


def test_another_workspaces_message_is_404_on_its_page_and_buttons(app):
    _, theirs = workspace(app, "Acme")
    launch(theirs, single_email("Hi", "<p>x</p>"), [("ada@x.test", "Ada")])
    process_due(NOW)
    message = the_message()
    web, _ = workspace(app, "Other")
    token = web.csrf_token("/outbox")
    for target in (message.id, uuid.uuid4()):
        assert web.get(f"/outbox/{target}").status_code == 404
        for action in ("cancel", "send-again"):
            response = web.post(f"/outbox/{target}/{action}", data={"csrf_token": token})
            assert response.status_code == 404
    assert the_message().status == "queued"


def test_the_list_filters_from_the_url_links_each_row_and_pages_with_the_filters(app):
    web, api = workspace(app, "Acme")
    people = [(f"p{i}@x.test", f"P{i}") for i in range(60)] + [("Zed@Other.test", "Zed")]
    sequence_id = launch(api, single_email("Hi", "<p>x</p>"), people)
    process_due(NOW)

    page = web.get(f"/outbox?sequence={sequence_id}&address=x.test&status=queued").text
    assert page.count('href="/outbox/') == 50 and "Zed@Other.test" not in page
    assert f'<option value="{sequence_id}" selected>' in page and 'value="x.test"' in page
    older = html.unescape(page.split('rel="next"')[0].rsplit('href="', 1)[1].split('"')[0])
    assert f"sequence={sequence_id}" in older and "address=x.test" in older
    assert "status=queued" in older
    rest = web.get(older).text
    assert rest.count('href="/outbox/') == 10 and 'rel="next"' not in rest

    only_zed = web.get("/outbox?address=zed@other").text
    assert only_zed.count('href="/outbox/') == 1 and "Queued (1)" in only_zed
    bad = web.get("/outbox?sequence=nope&cursor=x")
    assert bad.status_code == 400 and "sequence must be one of the choices" in bad.text
    assert "cursor is not one this list gave out" in web.get("/outbox?cursor=x").text
